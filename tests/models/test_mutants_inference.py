"""Minibatch sizing under a memory budget, by hand (written to kill mutmut survivors;
tests/MUTATION.md). About 16 live (n_obs, K) tensors must fit: 16 * K * bytes per value."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mixpref.errors import DataError
from mixpref.models.inference.batching import batch_groups


def _problem(dtype):
    return SimpleNamespace(n_groups=10, stream_bytes=None, formulation="gather", phi=None, dtype=dtype,
                           group_size=np.full(10, 5), dim=3, n_obs=50)


def test_annotators_per_minibatch_float32_and_float64():
    spec = SimpleNamespace(n_types=2)
    # float32: 50 obs x 16 x 2 types x 4 bytes = 6,400 bytes; a 3,200-byte budget needs 2 batches of 5 annotators
    p32 = _problem(torch.float32)
    assert batch_groups(p32, spec, {"memory_budget": 3200}) == 5
    assert p32.stream_bytes == 3200.0
    # float64: 12,800 bytes -> 4 batches -> 2 annotators each
    assert batch_groups(_problem(torch.float64), spec, {"memory_budget": 3200}) == 2
    assert batch_groups(_problem(torch.float32), spec, {"memory_budget": 6400}) is None  # it fits
    assert batch_groups(_problem(torch.float32), spec, {}) is None
    assert batch_groups(_problem(torch.float32), spec, {"batch_size": 3, "memory_budget": 10}) == 3


def test_a_budget_below_one_annotator_is_refused():
    spec = SimpleNamespace(n_types=2)
    # one annotator: 5 obs x 128 bytes + 8 rows x 3 dims x 4 bytes = 736 bytes
    with pytest.raises(DataError) as err:
        batch_groups(_problem(torch.float32), spec, {"memory_budget": 735})
    assert str(err.value).startswith("memory_budget: 735 bytes is smaller than one block (736 bytes: the largest "
                                     "annotator's 5 observations x 2 types and one row block of 3-d features)")
    assert batch_groups(_problem(torch.float32), spec, {"memory_budget": 736}) == 1


def test_distributed_sizing_uses_the_largest_need_of_any_rank():
    # comm.max_int is the maximum over ranks: another rank with more observations decides the
    # batch size for all (every rank must step through the same number of minibatches)
    spec = SimpleNamespace(n_types=2)
    seen = []

    def max_int(value):  # this rank's need vs another rank's (twice the observations, same largest annotator)
        seen.append(value)
        return max(value, {6400: 12800}.get(value, value))

    p = _problem(torch.float32)
    p.comm, p.n_groups_total = SimpleNamespace(max_int=max_int), 20
    # 12,800 bytes over a 3,200-byte budget: 4 batches of the 20 annotators in all -> 5 each
    assert batch_groups(p, spec, {"memory_budget": 3200}) == 5
    assert seen == [6400, 736]  # the whole need, then the one-annotator block (see the test above)


def test_svi_progress_bar_is_labelled(capsys):
    import mixpref as mp

    pop = mp.synthetic.population(n_types=1, n_annotators=4, comparisons_per_annotator=5, dim=2, random_state=0)
    mp.BradleyTerry(inference="svi", svi_steps=3, n_samples=2, progress=True).fit(pop.data, pop.features, study=False)
    err = capsys.readouterr().err
    # tqdm redraws at most every 0.1 s, so only the first frame is certain: the label and the 3 steps
    assert "\rsvi:   0%|" in err and "| 0/3 [" in err


def test_warm_started_fit_records_its_trace():
    # a fit from given parameters (bootstrap refits): one trace entry, with the objective it
    # returned, the LBFGS iterations (few: it starts at the optimum) and its time
    import mixpref as mp
    from mixpref.models import _engine as E
    from mixpref.models._problem import build_problem
    from mixpref.models.inference.map_fit import FitTrace, fit_map

    pop = mp.synthetic.population(n_types=1, n_annotators=10, comparisons_per_annotator=10, dim=3, random_state=1)
    problem = build_problem(pop.data, pop.features, dtype=torch.float64)
    spec = E.Spec(n_types=1, prior_scale=1.0)
    cold = FitTrace()
    params, value = fit_map(spec, problem, trace=cold)
    warm = FitTrace()
    params2, value2 = fit_map(spec, problem, init=params, trace=warm)
    assert [set(r) for r in cold.restarts + warm.restarts] == [{"init", "objective", "iterations", "seconds"}] * 2
    (entry,) = warm.restarts
    assert entry["init"] == "given" and entry["objective"] == value2 == pytest.approx(value, abs=1e-9)
    assert isinstance(entry["iterations"], int) and 0 <= entry["iterations"] < cold.restarts[0]["iterations"]
    assert 0 < entry["seconds"] <= warm.seconds

"""Model selection's counts and clustered standard errors (written to kill mutmut survivors;
tests/MUTATION.md). The standard error is recomputed here from the docstring's definition
(paired held-out difference, clustered by the test set's annotators) with pandas."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import mixpref as mp
from mixpref.models.selection import _groups, n_parameters


def test_n_parameters_counts_free_parameters():
    mixture = SimpleNamespace(params_={"theta": torch.zeros(3, 8), "logits": torch.zeros(3)})
    assert n_parameters(mixture) == 24 + 2  # K logits have K - 1 free values
    single = SimpleNamespace(params_={"theta": torch.zeros(1, 8), "b": torch.zeros(2, 2)})
    assert n_parameters(single) == 12


def test_groups_number_annotators_then_anonymous_rows():
    data = SimpleNamespace(arrays=SimpleNamespace(annotator=np.array([0, 1, -1, 2])),
                           ranking_arrays=SimpleNamespace(annotator=np.array([-1, 0])), annotators=["a", "b", "c"])
    assert _groups(data).tolist() == [0, 1, 3, 2, 4, 0]


def test_heldout_standard_error_with_single_observation_clusters():
    pop = mp.synthetic.population(n_types=2, n_annotators=40, comparisons_per_annotator=5, dim=4, n_prompts=6,
                                  responses_per_prompt=5, logit_sd=3.0, random_state=3)
    res = mp.select_n_types(pop.data, pop.features, ks=[1, 2], n_restarts=1, refit=False, random_state=0)
    _, test = pop.data.split(test_size=0.2, by="observation", random_state=0)
    codes = test.arrays.annotator
    sizes = pd.Series(codes).value_counts()
    assert (sizes == 1).any()  # some annotators have a single held-out comparison
    ll = {k: pd.Series(res.models[k].log_likelihood(test, pop.features)).groupby(codes).sum() for k in (1, 2)}
    best = int(res.table.set_index("k")["criterion"].idxmax())
    for k in (1, 2):
        diff = ll[best] - ll[k]
        want = np.sqrt(len(diff)) * diff.std(ddof=1) / len(test) if k != best else 0.0
        assert res.table.set_index("k").loc[k, "se"] == pytest.approx(want, abs=1e-12)
    assert res.table["n_params"].tolist() == [4, 9]


def test_bic_table_has_float_nan_standard_errors():
    pop = mp.synthetic.population(n_types=1, n_annotators=10, comparisons_per_annotator=5, dim=3, n_prompts=3,
                                  responses_per_prompt=4, random_state=1)
    res = mp.select_n_types(pop.data, pop.features, ks=[1], criterion="bic", n_restarts=1, refit=False)
    assert res.table["se"].dtype == np.float64 and res.table["se"].isna().all()
    assert res.table["heldout_ll"].dtype == np.float64


@pytest.mark.parametrize("criterion", ["heldout", "bic"])
def test_fits_inside_selection_log_nowhere(criterion):
    # select_n_types fits many candidate models; none of them may reach an active mp.Study:
    # every "fit" event they emit says study=False (the tracking side skips those)
    from mixpref import events

    pop = mp.synthetic.population(n_types=2, n_annotators=12, comparisons_per_annotator=6, dim=3, random_state=2)
    seen = []
    handle = events.subscribe(lambda name, payload: seen.append(payload.get("study", "missing"))
                              if name == "fit" else None)
    try:
        mp.select_n_types(pop.data, pop.features, ks=[1, 2], criterion=criterion, n_restarts=1, refit=True,
                          random_state=0)
    finally:
        events.unsubscribe(handle)
    assert len(seen) >= 2 and all(s is False for s in seen), seen


def test_candidates_get_the_seed_and_the_table_prints_without_index():
    pop = mp.synthetic.population(n_types=2, n_annotators=12, comparisons_per_annotator=6, dim=3, random_state=2)
    res = mp.select_n_types(pop.data, pop.features, ks=[1, 2], criterion="bic", n_restarts=1, refit=True,
                            random_state=3)
    assert [m.random_state for m in res.models.values()] == [3, 3]
    lines = repr(res).splitlines()
    assert lines[0] == f"SelectionResult(k={res.k}, criterion='bic')"
    assert lines[1].split()[:2] == ["k", "criterion"]  # no index column before k
    assert [line.split()[0] for line in lines[2:]] == ["1", "2"]

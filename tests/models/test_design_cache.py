"""``design_cache``: how much of the derived design matrix a fit keeps resident (the rest is streamed)."""

import numpy as np
import pytest
import torch

import mixpref as mp
from mixpref.models import _engine as E
from mixpref.models import inference as I
from mixpref.models._problem import build_problem, check_design_cache
from mixpref.models._rows import RowSource
from mixpref.models.inference.batching import batch_groups
from tests.models._fresh import assert_oracle_value_and_gradient, fresh_data


@pytest.fixture
def seen_problems(monkeypatch):
    """The problems the fits' batch_groups saw (after it decided what stays resident)."""
    seen = []

    def spy(problem, spec, opts):
        out = batch_groups(problem, spec, opts)
        seen.append(problem)
        return out

    monkeypatch.setattr(I, "batch_groups", spy)
    return seen


def test_small_cache_keeps_the_rows_it_holds_and_fits_the_same_objective(seen_problems):
    data, feats = fresh_data(n=600, dim=64, n_ann=30)
    kw = {"n_types": 2, "dtype": "float64", "n_restarts": 2}
    full = mp.MixtureBT(design_cache=None, **kw).fit(data, feats)
    x_full = seen_problems[-1].diff
    assert isinstance(x_full, torch.Tensor) and x_full.shape == (600, 64)
    # a float64 row of 64 features is 512 bytes: 20,000 bytes hold 39 of the 600 rows
    part = mp.MixtureBT(design_cache=20_000, **kw).fit(data, feats)
    x = seen_problems[-1].diff
    assert isinstance(x, RowSource) and x.n_resident == 20_000 // 512 == 39
    assert part.objective_ == pytest.approx(full.objective_, rel=1e-6)
    np.testing.assert_allclose(part.coef_, full.coef_, atol=1e-5)


def test_cache_none_keeps_every_row_and_zero_keeps_none():
    data, feats = fresh_data(n=300, dim=6)
    spec = E.Spec(n_types=2, prior_scale=None)
    opts = {"memory_budget": 4e9, "batch_size": None}
    whole = build_problem(data, feats, dtype=torch.float64, design_cache=None)
    batch_groups(whole, spec, {**opts, "design_cache": None})
    assert isinstance(whole.diff, torch.Tensor) and whole.diff.shape == (300, 6) and not whole.streamed
    none = build_problem(data, feats, dtype=torch.float64, design_cache=0)
    batch_groups(none, spec, {**opts, "design_cache": 0})
    assert isinstance(none.diff, RowSource) and none.diff.n_resident == 0 and none.streamed
    # all rows streamed still compute the oracle marginal (and its gradient)
    assert_oracle_value_and_gradient(none, data, feats, (1, 2))


def test_cache_above_the_matrix_keeps_it_whole_and_budget_still_caps_it():
    data, feats = fresh_data(n=300, dim=6)
    spec = E.Spec(n_types=1, prior_scale=None)
    x_bytes = 300 * 6 * 8
    p = build_problem(data, feats, dtype=torch.float64, design_cache=x_bytes)
    batch_groups(p, spec, {"memory_budget": 4e9, "batch_size": None, "design_cache": x_bytes})
    assert isinstance(p.diff, torch.Tensor)  # exactly the matrix's size: resident
    # the smaller of the two limits wins: a budget below X with an unlimited cache streams as before
    q = build_problem(data, feats, dtype=torch.float64, stream_bytes=0.75 * x_bytes)
    batch_groups(q, spec, {"memory_budget": 0.75 * x_bytes, "batch_size": None, "design_cache": None})
    working = 300 * 16 * 1 * 8
    assert q.diff.n_resident == max(0, int(0.75 * x_bytes - working - 2 * q.diff.block_rows * 48) // 48)


def test_gather_formulation_caches_response_rows():
    pop = mp.synthetic.population(n_types=1, n_annotators=20, comparisons_per_annotator=30, dim=8, random_state=0)
    p = build_problem(pop.data, pop.features, dtype=torch.float64, formulation="gather", design_cache=8 * 8 * 10)
    assert p.formulation == "gather"
    assert isinstance(p.phi, RowSource) and p.phi.n_resident == 10


def test_auto_is_the_measured_cache_on_the_cpu_and_no_limit_on_an_accelerator(seen_problems):
    # 0.4e9: the largest cache measured to keep the 400k fit within features + 1 GB (RESULTS.md)
    assert check_design_cache("auto", "cpu") == 0.4e9
    assert check_design_cache("auto", torch.device("cuda")) is None  # a device object only: no GPU needed
    data, feats = fresh_data(n=100, dim=4)
    mp.BradleyTerry(device="cpu").fit(data, feats)
    assert seen_problems[-1].design_cache == 0.4e9


@pytest.mark.parametrize("bad", [-1, "big", True, float("nan")])
def test_bad_design_cache_is_a_data_error(bad):
    data, feats = fresh_data(n=50, dim=4)
    with pytest.raises(mp.DataError, match="design_cache"):
        mp.BradleyTerry(design_cache=bad).fit(data, feats)


def test_params_round_trip_and_every_model_accepts_it(tmp_path):
    data, feats = fresh_data(n=200, dim=6, n_ann=10)
    bt = mp.BradleyTerry(design_cache=1e6)
    assert bt.get_params()["design_cache"] == 1e6 and mp.BradleyTerry().design_cache == "auto"
    assert mp.MixtureBT(design_cache=None).get_params()["design_cache"] is None
    assert mp.PolicyLikelihood(design_cache=2e6).get_params()["design_cache"] == 2e6
    for model in (mp.MixtureBT(n_types=2, n_restarts=1, design_cache=1_000),
                  mp.MixturePL(n_types=2, n_restarts=1, design_cache=1_000),
                  mp.LowRankBT(rank=2, design_cache=1_000)):
        model.fit(data, feats)
        assert np.isfinite(model.objective_)
        path = tmp_path / type(model).__name__
        model.save(path)
        assert mp.load_model(path).get_params()["design_cache"] == 1_000


def test_lowrank_checks_design_cache_too():
    data, feats = fresh_data(n=50, dim=4)
    with pytest.raises(mp.DataError, match="design_cache"):
        mp.LowRankBT(rank=2, design_cache=-5).fit(data, feats)


@pytest.mark.parametrize("given,stored", [("1000", 1000), ("inf", float("inf")), ("none", None)])
def test_cli_option_reaches_the_model(tmp_path, given, stored):
    from mixpref.cli import main
    from tests.models.test_cli_models import _write

    csv, feats = _write(tmp_path)
    code = main(["fit", str(csv), "--annotator", "annotator", "--features", str(feats), "--types", "2",
                 "--restarts", "1", "--device", "cpu", "--out", str(tmp_path / "m"), "--no-progress",
                 "--design-cache", given])
    assert code == 0
    model = mp.load_model(tmp_path / "m")  # a Mixture of BradleyTerry types: the option is the base's
    assert model.base.design_cache == stored

"""Shrinkage of a mixture's types towards the pooled model (MixtureBT(shrinkage=...))."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

import mixpref as mp
from mixpref.models import _engine as E
from mixpref.models._problem import build_problem
from mixpref.models._shrinkage_prior import correlated_log_prior

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
from mixture_recovery import within_annotator_split


def test_prior_is_the_pooled_model_integrated_out():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5))
    tau, s = 0.7, 1.3
    cov = tau**2 * np.eye(3) + s**2 * np.ones((3, 3))
    expected = sum(multivariate_normal(np.zeros(3), cov).logpdf(x[:, j]) for j in range(5))
    assert float(correlated_log_prior(torch.as_tensor(x), tau, s)) == pytest.approx(expected, rel=1e-10)
    # a flat pooled prior: shifting every type by the same vector changes nothing
    flat = correlated_log_prior(torch.as_tensor(x), tau, None)
    shifted = correlated_log_prior(torch.as_tensor(x + rng.standard_normal(5)), tau, None)
    assert float(flat) == pytest.approx(float(shifted), rel=1e-10)


@pytest.mark.parametrize("prior_scale", [1.0, None])
def test_map_objective_equals_pyro_elbo_with_shrinkage(prior_scale):
    pop = mp.synthetic.population(n_types=2, n_annotators=10, comparisons_per_annotator=8, dim=4, random_state=2)
    m = mp.MixtureBT(n_types=3, shrinkage=0.4, prior_scale=prior_scale)
    spec = m._spec(pop.data, pop.features)
    assert spec.type_scale == 0.4
    problem = build_problem(pop.data, pop.features, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    params = {k: torch.randn(v, generator=gen, dtype=torch.float64) for k, v in E.param_shapes(spec, 4).items()}
    ours = float(E.log_joint(spec, params, problem))
    assert ours == pytest.approx(-E.pyro_map_loss(spec, params, problem), rel=1e-6)


def _cell(logit_sd, n_types, seed=0):
    pop = mp.synthetic.population(n_types=n_types, dim=32, n_annotators=100, comparisons_per_annotator=50,
                                  logit_sd=logit_sd, random_state=seed)
    train, test = within_annotator_split(pop.data, 0.2, seed)
    shr = mp.MixtureBT(n_types=3, shrinkage="auto", random_state=seed).fit(train, pop.features)
    raw = mp.MixtureBT(n_types=3, random_state=seed).fit(train, pop.features)
    bt = mp.BradleyTerry(random_state=seed).fit(train, pop.features)
    return shr, *(m.score(test, pop.features) for m in (shr, raw, bt))


def test_no_structure_shrinks_to_one_model():
    shr, ll_shr, ll_raw, ll_bt = _cell(1.0, n_types=1)
    assert shr.type_scale_ < 0.2 * shr.type_scale_path_[0]["tau"]
    assert ll_shr >= ll_bt - 0.002
    coef = shr.coef_
    assert np.abs(coef - coef.mean(0)).max() < 0.1 * np.abs(coef).max()


def test_strong_structure_keeps_the_types():
    shr, ll_shr, ll_raw, ll_bt = _cell(2.0, n_types=3)
    assert ll_raw > ll_bt
    assert ll_shr >= ll_raw - 0.002


def test_bad_shrinkage_and_roundtrip(tmp_path):
    pop = mp.synthetic.population(n_types=2, n_annotators=20, comparisons_per_annotator=20, dim=4)
    with pytest.raises(mp.DataError, match="shrinkage: got 'lots'"):
        mp.MixtureBT(shrinkage="lots").fit(pop.data, pop.features)
    with pytest.raises(mp.DataError, match="reward='linear'"):
        mp.MixtureBT(shrinkage="auto", reward="mlp", hidden=4).fit(pop.data, pop.features)
    m = mp.MixtureBT(shrinkage="auto").fit(pop.data, pop.features)
    loaded = mp.load_model(m.save(tmp_path / "m"))
    assert loaded.shrinkage == "auto" and loaded.spec_.type_scale == pytest.approx(m.type_scale_)
    assert np.allclose(loaded.rewards(pop.features), m.rewards(pop.features))

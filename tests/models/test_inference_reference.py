"""Inference beyond the MAP point: SVI, bootstrap ensembles and the mixture initialisation, by value.

SVI (AutoNormal, mean-field) on a near-Gaussian posterior must find the mean-field optimum:
mean at the MAP and standard deviations 1/sqrt(diag(precision)). A bootstrap ensemble's
spread of reward contrasts must match the Laplace (sandwich-free, well-specified model)
standard errors. The precision matrix is the oracle's, written from the formula.
"""

import numpy as np
import pytest

import mixpref as mp

from ..reference import oracles as O
from .conftest import features_for, make_data


@pytest.fixture(scope="module")
def items():
    rng = np.random.default_rng(0)
    n_items, n = 5, 300
    strength = rng.normal(size=n_items)
    a = rng.integers(0, n_items, size=n)
    b = (a + rng.integers(1, n_items, size=n)) % n_items
    y = (rng.random(n) < 1 / (1 + np.exp(-(strength[a] - strength[b])))).astype(float)
    data = make_data(a, b, y, n_responses=n_items)
    feats = features_for(data, np.eye(n_items))  # one-hot: the rewards are the parameters
    map_fit = mp.BradleyTerry(prior_scale=1.0, dtype="float64").fit(data, feats)
    H = O.bt_precision(np.eye(n_items), map_fit.coef_, a, b, prior_scale=1.0)
    return data, feats, map_fit, H


def test_svi_finds_the_mean_field_optimum(items):
    data, feats, map_fit, H = items
    svi = mp.BradleyTerry(prior_scale=1.0, dtype="float64", inference="svi", svi_steps=200, svi_lr=0.05,
                          n_samples=200, random_state=0).fit(data, feats)
    draws = svi.sample_rewards(200, feats)
    mean_field_sd = 1 / np.sqrt(np.diag(H))  # the optimal factorised Gaussian of a Gaussian posterior
    ratio = draws.std(0) / mean_field_sd
    assert ((ratio > 0.7) & (ratio < 1.4)).all(), ratio
    z = (draws.mean(0) - map_fit.coef_) / mean_field_sd
    assert (np.abs(z) < 2.0).all(), z


def test_bootstrap_ensemble_spread_matches_laplace_standard_errors(items):
    data, feats, map_fit, H = items
    n_items = H.shape[0]
    ens = mp.BradleyTerry(prior_scale=1.0, dtype="float64", inference="ensemble", n_members=30,
                          random_state=0).fit(data, feats)
    # contrasts r_i - r_0: what the comparisons identify (a common shift is the prior's alone)
    C = np.eye(n_items)[1:] - np.eye(n_items)[0]
    se = np.sqrt(np.diag(C @ np.linalg.inv(H) @ C.T))
    draws = ens.sample_rewards(30, feats) @ C.T
    ratio = draws.std(0, ddof=1) / se
    assert ((ratio > 0.6) & (ratio < 1.7)).all(), ratio
    z = (draws.mean(0) - C @ map_fit.coef_) / se
    assert (np.abs(z) < 1.0).all(), z


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_initialisation_alone_finds_three_types(seed):
    # fast variant of the slow recovery test: with three LBFGS iterations the fit cannot repair
    # a bad start, so the score-vector k-means start (and its M-step) must already be right
    from sklearn.metrics import adjusted_rand_score

    pop = mp.synthetic.population(n_types=3, weights=(0.5, 0.3, 0.2), dim=32, n_annotators=90,
                                  comparisons_per_annotator=40, logit_sd=2.0, random_state=seed)
    m = mp.MixtureBT(n_types=3, n_restarts=1, max_steps=3, random_state=seed).fit(pop.data, pop.features)
    ari = adjusted_rand_score(pop.truth.annotator_types.loc[m.annotators_], m.assign())
    assert ari >= 0.99

"""Warm-started refits between rounds, and the weight draws the decision objective reads."""

import copy

import numpy as np
import pytest
import torch

import mixpref as mp
from mixpref.active.belief import belief_of
from mixpref.active.refit import refit
from mixpref.data.operations import take


@pytest.fixture(scope="module")
def pop():
    return mp.synthetic.population(n_types=3, n_annotators=24, comparisons_per_annotator=12, dim=6, logit_sd=2.0,
                                   random_state=4)


def test_warm_start_wins_exactly_when_it_fits_better_than_the_models_own_restarts(pop):
    model = mp.MixtureBT(n_types=3, n_restarts=1, random_state=0)
    half = take(pop.data, np.arange(len(pop.data.arrays) // 2), [])
    previous = mp.MixtureBT(n_types=3, n_restarts=4, random_state=1).fit(half, pop.features, study=False)
    fresh = mp.MixtureBT(n_types=3, n_restarts=1, random_state=0).fit(pop.data, pop.features, study=False)
    got = refit(model, pop.data, pop.features, previous=previous)
    # the models' restarts reproduce (same seed): the refit is the better of the two starts
    assert got.objective_ >= fresh.objective_ - 1e-9
    if got.warm_start_:
        assert got.objective_ > fresh.objective_
    else:
        assert got.objective_ == pytest.approx(fresh.objective_, abs=1e-9)
        np.testing.assert_allclose(got.coef_, fresh.coef_, atol=1e-6)
    assert got.responsibilities_.shape == fresh.responsibilities_.shape


def test_a_start_at_the_truth_beats_a_single_unlucky_restart(pop):
    # previous = the true rewards and weights: its basin is the right one, so warm must not lose to it
    truth = pop.truth
    fresh = mp.MixtureBT(n_types=3, n_restarts=1, random_state=0).fit(pop.data, pop.features, study=False)
    oracle = copy.deepcopy(fresh)  # a fitted shell for the true parameters
    theta = np.linalg.lstsq(pop.features.embeddings, truth.rewards.T, rcond=None)[0].T
    oracle.params_ = {**oracle.params_, "theta": torch.as_tensor(theta, dtype=oracle.params_["theta"].dtype),
                      "logits": torch.log(torch.as_tensor(truth.weights, dtype=oracle.params_["logits"].dtype))}
    got = refit(mp.MixtureBT(n_types=3, n_restarts=1, random_state=0), pop.data, pop.features, previous=oracle)
    assert got.objective_ >= fresh.objective_ - 1e-9
    assert got.warm_start_ == (got.objective_ > fresh.objective_ + 1e-12)


def test_single_model_refit_is_a_plain_fit(pop):
    prev = mp.BradleyTerry().fit(pop.data, pop.features, study=False)
    got = refit(mp.BradleyTerry(), pop.data, pop.features, previous=prev)
    assert not got.warm_start_
    np.testing.assert_allclose(got.coef_, prev.coef_)


def test_weight_draws_are_the_logits_of_the_same_stored_draws_as_the_rewards(pop):
    model = mp.MixtureBT(n_types=3, n_restarts=1, inference="laplace", n_samples=50, random_state=0).fit(
        pop.data, pop.features, study=False)
    b = belief_of(model, pop.features, [None], n_draws=20, random_state=3, need_draws=True, objective="decision")
    theta = model.posterior_samples_["theta"].double().numpy()
    logits = model.posterior_samples_["logits"].double().numpy()
    emb = np.asarray(pop.features.embeddings, dtype=np.float64)
    assert b.voter_draws.shape == (20, 3)
    for s in range(20):
        j = int(np.argmin([np.abs(b.basis[s] - theta[t] @ emb.T).max() for t in range(len(theta))]))
        np.testing.assert_allclose(b.basis[s], theta[j] @ emb.T, atol=1e-8)
        w = np.exp(logits[j] - logits[j].max())
        np.testing.assert_allclose(b.voter_draws[s], w / w.sum(), atol=1e-12)
    # the weights are uncertain in the posterior: the draws spread around the point estimate
    assert b.voter_draws.std(axis=0).min() > 1e-3

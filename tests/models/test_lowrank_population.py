"""The population prior of LowRankBT: NPMLE mass on the atoms, against a generic optimiser."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

import mixpref as mp
from mixpref.models._lowrank_population import npmle_log_weights
from mixpref.models.lowrank import LowRankBT


def _objective(w, gll):
    return logsumexp(gll + np.log(np.clip(w, 1e-300, None)), axis=1).mean()


def test_npmle_matches_a_generic_optimiser():
    rng = np.random.default_rng(0)
    G, M = 40, 6
    centers = rng.normal(size=(3, 2))
    truth = centers[rng.integers(0, 3, G)] + 0.1 * rng.normal(size=(G, 2))
    atoms = rng.normal(size=(M, 2))
    gll = -4.0 * ((truth[:, None, :] - atoms[None]) ** 2).sum(-1)
    w = np.exp(npmle_log_weights(torch.as_tensor(gll), max_iter=20000, tol=1e-13).numpy())
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    # the same concave problem by BFGS over softmax logits, from many starts
    best = max((-minimize(lambda z: -_objective(softmax(z), gll), rng.normal(size=M), method="BFGS").fun
                for _ in range(5)))
    assert _objective(w, gll) >= best - 1e-8 and _objective(w, gll) == pytest.approx(best, abs=1e-4)
    # and the NPMLE's optimality certificate (Lindsay 1983): mean_g L_gm / sum_k w_k L_gk <= 1 for every atom
    L = np.exp(gll - gll.max(1, keepdims=True))
    assert (L / (L @ w)[:, None]).mean(0).max() <= 1 + 1e-3
    assert _objective(w, gll) >= _objective(np.full(M, 1.0 / M), gll)


def test_fitted_population_mass_sums_to_one_and_favours_the_types():
    pop = mp.synthetic.population(n_types=2, n_annotators=60, comparisons_per_annotator=40, dim=8, logit_sd=3.0)
    m = LowRankBT(rank=2, random_state=0).fit(pop.data, pop.features)
    w = np.exp(m.params_["atom_logw"].double().numpy())
    assert w.sum() == pytest.approx(1.0, abs=1e-6)
    # two discrete types: the mass sits on atoms near the two corners, more than the atoms' plain share
    atoms = m.params_["atoms"].double().numpy()
    corner = np.abs(atoms[:, 0] - 0.5) > 0.35
    assert w[corner].sum() >= corner.mean()

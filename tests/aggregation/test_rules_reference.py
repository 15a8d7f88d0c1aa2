"""Borda with ties and the weighted majority of weakly-preferring types, against the oracles."""

import numpy as np

import mixpref as mp

from ..reference import oracles as O


def _tie_profile():
    # P(i beats j) with ties (row + column < 1): candidate 0 ties a lot but never loses more than it wins
    P = np.array([[0.5, 0.3, 0.3],
                  [0.1, 0.5, 0.7],
                  [0.1, 0.3, 0.5]])
    return P


def test_borda_counts_a_tie_as_half_a_win():
    P = _tie_profile()
    lot = mp.aggregate(mp.Profile(P[None, None], weights=[1.0], ties=True), "borda")
    expected = O.borda_scores(P[None], [1.0])
    np.testing.assert_allclose(expected, [1.2, 1.1, 0.7])  # the worked example
    np.testing.assert_allclose(lot.scores[0], expected, rtol=1e-12)
    # raw win probabilities would make candidate 1 the winner (0.6 vs 0.8); half-ties make it 0
    np.testing.assert_allclose(lot.probs[0], [1.0, 0.0, 0.0])


def test_borda_with_ties_on_random_mixtures_matches_the_reference():
    rng = np.random.default_rng(0)
    P_prompts, K, M = 6, 3, 5
    mats = np.zeros((P_prompts, K, M, M))
    for p in range(P_prompts):
        for k in range(K):
            for i in range(M):
                for j in range(i + 1, M):
                    win, lose, _ = rng.dirichlet([1.0, 1.0, 1.0])  # the rest is the tie probability
                    mats[p, k, i, j], mats[p, k, j, i] = win, lose
            np.fill_diagonal(mats[p, k], 0.5)
    w = np.array([0.5, 0.3, 0.2])
    lot = mp.aggregate(mp.Profile(mats, weights=w, ties=True), "borda")
    for p in range(P_prompts):
        expected = O.borda_scores(mats[p], w)
        np.testing.assert_allclose(lot.scores[p], expected, rtol=1e-12)
        best = np.flatnonzero(expected >= expected.max() - 1e-12)
        np.testing.assert_allclose(lot.probs[p, best], 1.0 / len(best))


def _weak_majority_profile(eps):
    # type 0 (weight 0.4) strongly prefers candidate 0; type 1 (weight 0.6) prefers candidate 1, weakly
    strong = np.array([[0.5, 0.9], [0.1, 0.5]])
    weak = np.array([[0.5, 0.5 - eps], [0.5 + eps, 0.5]])
    return np.stack([strong, weak]), np.array([0.4, 0.6])


def test_a_weakly_preferring_type_still_counts_in_the_majority():
    for eps in (1e-3, 2e-3, 4e-3):
        mats, w = _weak_majority_profile(eps)
        prof = mp.Profile(mats[None], weights=w)
        expected = O.majority_margin(mats, w)
        np.testing.assert_allclose(expected, [[0, -0.2], [0.2, 0]], atol=1e-15)
        np.testing.assert_allclose(prof.majority_margin()[0], expected, atol=1e-12)
        assert prof.majority()[0, 1, 0] == 1 and prof.majority()[0, 0, 1] == -1
        for rule in ("majority", "copeland", "kemeny"):
            np.testing.assert_allclose(mp.aggregate(prof, rule).probs[0], [0.0, 1.0], err_msg=f"{rule}, eps={eps}")

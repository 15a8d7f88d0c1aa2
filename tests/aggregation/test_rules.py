"""The rules other than the pref_voting-checked ones: oracles from choix, scipy and closed forms."""

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

import mixpref as mp
from mixpref.aggregation.kemeny import kemeny_top_scores

from ._elections import random_voter_profiles, stack_elections, voter_matrices


def test_rules_tuple_and_every_rule_returns_a_lottery(bt_mixture):
    assert set(mp.RULES) == {
        "majority", "pooled", "borda", "copeland", "kemeny", "maximal_lottery",
        "utilitarian", "maxmin", "minmax_regret", "quantile", "dictator",
    }  # fmt: skip
    samples = bt_mixture.matrices[None].repeat(3, axis=0)
    prof = mp.Profile(bt_mixture.matrices[:40], bt_mixture.weights[:40], rewards=bt_mixture.rewards[:40], samples=samples[:, :40])
    for rule in mp.RULES:
        lot = mp.aggregate(prof, rule)
        assert lot.rule == rule
        assert lot.probs.shape == (40, 8)
        np.testing.assert_allclose(lot.probs.sum(axis=1), 1.0)
        assert (lot.probs >= 0).all()
        assert np.isfinite(lot.scores).all()
        assert lot.pairwise.shape == (40, 8, 8)
        assert isinstance(lot.metadata["options"], dict)


def test_errors_name_what_is_missing(bt_mixture):
    no_rewards = mp.Profile(bt_mixture.matrices[:3], bt_mixture.weights[:3])
    with pytest.raises(mp.DataError, match="needs per-type rewards"):
        mp.aggregate(no_rewards, "utilitarian")
    with pytest.raises(mp.DataError, match="needs posterior samples"):
        mp.aggregate(no_rewards, "quantile")
    with pytest.raises(mp.DataError, match="unknown option.*'metod'"):
        mp.aggregate(no_rewards, "maximal_lottery", metod="lp")
    with pytest.raises(mp.DataError, match="expected one of"):
        mp.aggregate(no_rewards, "plurality")
    with pytest.raises(mp.DataError, match="method"):
        mp.aggregate(no_rewards, "maximal_lottery", method="simplex")
    with pytest.raises(mp.DataError, match="type"):
        mp.aggregate(no_rewards, "dictator", type=5)
    with pytest.raises(mp.DataError, match="Profile"):
        mp.aggregate(np.zeros((1, 1, 2, 2)), "borda")
    # options given as text (e.g. straight from a config file) name themselves
    with pytest.raises(mp.DataError, match="ridge: got 'big'"):
        mp.aggregate(no_rewards, "pooled", ridge="big")
    sampled = mp.Profile(no_rewards.matrices, no_rewards.weights, samples=no_rewards.matrices[None])
    with pytest.raises(mp.DataError, match="alpha: got 'low'"):
        mp.aggregate(sampled, "quantile", alpha="low")
    with pytest.raises(mp.DataError, match="tol"):
        mp.aggregate(no_rewards, "maximal_lottery", method="selfplay", tol=-1.0)


def test_pooled_strengths_match_choix():
    choix = pytest.importorskip("choix")
    rng = np.random.default_rng(4)
    ridge = 0.05
    for _ in range(5):
        m, n = 5, 9
        rankings = [rng.permutation(m).tolist() for _ in range(n)]
        prof = mp.Profile(voter_matrices(rankings, m)[None], weights=np.full(n, 1.0 / n))
        lot = mp.aggregate(prof, "pooled", ridge=ridge)
        # choix penalises alpha * |theta|^2 on counts (n per pair): alpha = n * ridge / 2
        data = [(r[a], r[b]) for r in rankings for a, b in itertools.combinations(range(m), 2)]
        theta = choix.opt_pairwise(m, data, alpha=n * ridge / 2, tol=1e-10)
        np.testing.assert_allclose(lot.scores[0], theta - theta.mean(), atol=1e-4)
        # on a complete pooled matrix a single BT model picks the Borda winner
        borda = mp.aggregate(prof, "borda")
        assert np.argmax(lot.probs[0]) == np.argmax(borda.probs[0])


def test_pooled_temperature_is_a_softmax():
    prof = mp.Profile.from_rewards(np.array([[[0.0, 1.0, 2.0]]]), weights=[1.0])
    lot = mp.aggregate(prof, "pooled", temperature=0.5, ridge=1e-6)
    z = np.exp(lot.scores[0] / 0.5)
    np.testing.assert_allclose(lot.probs[0], z / z.sum())
    # the pooled matrix is exactly Bradley-Terry: the strengths are the rewards, centred
    np.testing.assert_allclose(lot.scores[0], [-1.0, 0.0, 1.0], atol=1e-4)


def test_kemeny_matches_brute_force():
    rng = np.random.default_rng(9)
    margin = rng.normal(size=(30, 6, 6))
    margin = margin - np.swapaxes(margin, 1, 2)
    top = kemeny_top_scores(margin)
    for p in range(30):
        best = np.full(6, -np.inf)
        for perm in itertools.permutations(range(6)):
            score = sum(margin[p, perm[a], perm[b]] for a in range(6) for b in range(a + 1, 6))
            best[perm[0]] = max(best[perm[0]], score)
        np.testing.assert_allclose(top[p], best, atol=1e-9)


def test_kemeny_too_many_candidates():
    prof = mp.Profile(np.full((1, 1, 13, 13), 0.5), weights=[1.0])
    with pytest.raises(mp.DataError, match="at most 12"):
        mp.aggregate(prof, "kemeny")


def test_majority_picks_condorcet_winner_or_top_cycle():
    # 3 voters a>b>c>d, b>c>a>d, c>a>b>d: cycle a,b,c above d
    prof = mp.Profile(voter_matrices([[0, 1, 2, 3], [1, 2, 0, 3], [2, 0, 1, 3]], 4)[None], weights=np.ones(3) / 3)
    np.testing.assert_allclose(mp.aggregate(prof, "majority").probs[0], [1 / 3, 1 / 3, 1 / 3, 0])
    prof = mp.Profile(voter_matrices([[0, 1, 2], [1, 0, 2], [0, 2, 1]], 3)[None], weights=np.ones(3) / 3)
    lot = mp.aggregate(prof, "majority")
    assert lot.probs[0].tolist() == [1.0, 0.0, 0.0]
    np.testing.assert_allclose(lot.scores[0], [1 / 3, -1 / 3, -1])


def _per_prompt_maxmin(u):
    """Dense textbook LP for one prompt: max t s.t. t <= u_k . x for all k."""
    k, m = u.shape
    res = linprog(
        np.r_[np.zeros(m), -1.0],
        A_ub=np.hstack([-u, np.ones((k, 1))]),
        b_ub=np.zeros(k),
        A_eq=np.r_[np.ones(m), 0.0][None],
        b_eq=[1.0],
        bounds=[(0, 1)] * m + [(None, None)],
        method="highs",
    )
    return -res.fun


def test_maxmin_and_minmax_regret_closed_form():
    # two types with opposite tastes over two candidates: the fair coin is optimal
    prof = mp.Profile.from_rewards(np.array([[[1.0, 0.0], [0.0, 1.0]]]), weights=[0.9, 0.1])
    for rule in ("maxmin", "minmax_regret"):
        for utility in ("winrate", "reward"):
            lot = mp.aggregate(prof, rule, utility=utility)
            np.testing.assert_allclose(lot.probs[0], [0.5, 0.5], atol=1e-9)
    # utilitarian follows the heavy type
    assert mp.aggregate(prof, "utilitarian").probs[0].tolist() == [1.0, 0.0]
    lot = mp.aggregate(prof, "minmax_regret", utility="reward")
    np.testing.assert_allclose(lot.metadata["value"], [0.5], atol=1e-9)


def test_maxmin_value_matches_per_prompt_linprog(bt_mixture):
    prof = mp.Profile(bt_mixture.matrices[:30], bt_mixture.weights[:30])
    lot = mp.aggregate(prof, "maxmin")
    u = prof.utilities("winrate")
    achieved = np.einsum("pki,pi->pk", u, lot.probs).min(axis=1)
    for p in range(30):
        expected = _per_prompt_maxmin(u[p])
        np.testing.assert_allclose(achieved[p], expected, atol=1e-7)
        np.testing.assert_allclose(lot.metadata["value"][p], expected, atol=1e-7)
        # never worse for the worst type than the uniform lottery or any single candidate
        assert achieved[p] >= u[p].mean(axis=1).min() - 1e-9
        assert achieved[p] >= u[p].min(axis=0).max() - 1e-9


def test_maxmin_lp_ignores_padding_values():
    # a Profile zeroes its padding, but the LPs are public helpers: NaN at padding (x_i is
    # fixed at 0 there) must not reach linprog, for max-min as for min-max regret
    from mixpref.aggregation.lp import maxmin_lp, minmax_regret_lp

    u = np.array([[[1.0, 0.0, np.nan], [0.0, 1.0, np.nan]], [[2.0, 0.0, 1.0], [0.0, 2.0, 1.0]]])
    mask = np.array([[True, True, False], [True, True, True]])
    active = np.ones((2, 2), dtype=bool)
    x, value = maxmin_lp(u, active, mask)
    np.testing.assert_allclose(x[0], [0.5, 0.5, 0.0], atol=1e-9)
    np.testing.assert_allclose(value, [0.5, 1.0], atol=1e-9)
    x, value = minmax_regret_lp(u, active, mask)
    np.testing.assert_allclose(x[0], [0.5, 0.5, 0.0], atol=1e-9)
    np.testing.assert_allclose(value, [0.5, 1.0], atol=1e-9)


def test_zero_weight_types_do_not_count_for_maxmin():
    r = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    prof = mp.Profile.from_rewards(r, weights=[1.0, 0.0])
    assert mp.aggregate(prof, "maxmin").probs[0].tolist() == [1.0, 0.0]


def test_quantile_and_dictator():
    rng = np.random.default_rng(2)
    r = rng.normal(size=(20, 2, 5))
    # candidate 0 is great on average for type 0 but very uncertain
    samples = r[None] + rng.normal(size=(200, 20, 2, 5)) * 0.05
    samples[:, :, :, 0] = r[None, :, :, 0] + 3.0 + rng.normal(size=(200, 20, 2)) * 6.0
    prof = mp.Profile.from_rewards(r, weights=[0.5, 0.5], reward_samples=samples)
    lot = mp.aggregate(prof, "quantile", alpha=0.1)
    w = 0.5 * (1 + prof.pooled_samples() - np.swapaxes(prof.pooled_samples(), 2, 3))
    expected = np.quantile(w.mean(axis=3), 0.1, axis=0)
    np.testing.assert_allclose(lot.scores, expected)
    assert (lot.probs[:, 0] == 0).mean() > 0.5  # the risky candidate is mostly avoided
    d = mp.aggregate(prof, "dictator", type=1, utility="reward")
    assert (np.argmax(d.probs, axis=1) == np.argmax(r[:, 1], axis=1)).all()
    d = mp.aggregate(prof, "dictator")
    assert (d.metadata["type"] == 0).all()  # ties in weight: the first type


def test_ordinal_rules_on_padded_batch_equal_one_by_one():
    elections = random_voter_profiles(15, seed=8)
    batch = stack_elections(elections)
    for rule in ("majority", "copeland", "kemeny", "borda", "maxmin", "pooled"):
        lot = mp.aggregate(batch, rule)
        for p, rankings in enumerate(elections):
            m, n = len(rankings[0]), len(rankings)
            one = mp.Profile(voter_matrices(rankings, m)[None], weights=np.full(n, 1.0 / n))
            np.testing.assert_allclose(lot.probs[p, :m], mp.aggregate(one, rule).probs[0], atol=1e-7, err_msg=rule)

"""Objectives against brute-force oracles on tiny cases (independent loops, Bayes' rule by hand)."""

import itertools

import numpy as np
import pandas as pd
import pytest

import mixpref as mp
from mixpref.active.belief import Belief
from mixpref.active.objectives import score_pool
from mixpref.active.outcomes import outcome_codes, smith_sets
from mixpref.active.pool import make_pool


def _entropy(ps):
    ps = np.asarray([p for p in ps if p > 0])
    return float(-(ps * np.log(ps)).sum())


def _setup(S=1, K=2, H=None, n=6, seed=0, mix=None):
    rng = np.random.default_rng(seed)
    feats = mp.Features([f"r{i}" for i in range(n)], rng.standard_normal((n, 3)))
    pairs = [(i, j) for i, j in itertools.combinations(range(n), 2)]
    frame = pd.DataFrame({"prompt_id": ["p"] * len(pairs), "response_a": [f"r{i}" for i, _ in pairs],
                          "response_b": [f"r{j}" for _, j in pairs]})
    pool = make_pool(frame, feats)
    basis = rng.normal(scale=1.5, size=(S, K, n))
    hyp = np.eye(K) if H is None else rng.dirichlet(np.ones(K), size=H)
    Hn = len(hyp)
    m = np.tile(rng.dirichlet(np.ones(Hn)) if mix is None else mix, (len(pool), 1))
    return Belief(basis, hyp, m, np.ones(Hn) / Hn, np.zeros(len(pool), bool), S > 1), pool, pairs


def _p(belief, s, h, i, j):
    r = belief.hypotheses[h] @ belief.basis[s]
    return 1.0 / (1.0 + np.exp(-(r[i] - r[j])))


@pytest.mark.parametrize("H", [None, 4])
def test_type_eig_equals_prior_entropy_minus_expected_posterior_entropy(H):
    belief, pool, pairs = _setup(H=H)
    got = score_pool("type", belief, pool)
    for row, (i, j) in enumerate(pairs):
        prior = belief.mix[row]
        expected_post_entropy = 0.0
        for y in (1, 0):
            like = np.array([_p(belief, 0, h, i, j) if y else 1 - _p(belief, 0, h, i, j) for h in range(len(prior))])
            py = float((prior * like).sum())
            post = prior * like / py
            expected_post_entropy += py * _entropy(post)
        assert got[row] == pytest.approx(_entropy(prior) - expected_post_entropy, abs=1e-9)


def _mutual_information(joint):
    """I(y; x) by a plain loop over a joint table joint[x][y] (x: whatever the answer may reveal)."""
    py = [sum(row[y] for row in joint) for y in (0, 1)]
    mi = 0.0
    for row in joint:
        px = row[0] + row[1]
        for y in (0, 1):
            if row[y] > 0:
                mi += row[y] * np.log(row[y] / (px * py[y]))
    return mi


@pytest.mark.parametrize("per_answer", [False, True])
def test_bald_equals_mutual_information_from_the_joint_table(per_answer):
    S, K = 7, 3
    belief, pool, pairs = _setup(S=S, K=K, seed=3)
    belief.per_answer_types = per_answer
    got = score_pool("reward", belief, pool)
    for row, (i, j) in enumerate(pairs):
        mix = belief.mix[row]
        joint = []
        for s in range(S):
            if per_answer:
                # the type is redrawn for every answer: only the draw s persists
                p1 = sum(mix[h] * _p(belief, s, h, i, j) for h in range(K))
                joint.append([(1 - p1) / S, p1 / S])
            else:
                # the annotator's type persists across answers: the answer may reveal (s, h)
                for h in range(K):
                    p1 = _p(belief, s, h, i, j)
                    joint.append([mix[h] * (1 - p1) / S, mix[h] * p1 / S])
        assert got[row] == pytest.approx(_mutual_information(joint), abs=1e-9)


def test_bald_of_one_draw_and_one_type_is_zero_and_of_two_opposite_draws_is_log2():
    belief, pool, pairs = _setup(S=2, K=1, seed=1)
    assert np.allclose(score_pool("reward", Belief(belief.basis[:1], belief.hypotheses, belief.mix,
                                                   belief.voter_weights, belief.new_annotator, True), pool), 0.0)
    # two draws with huge opposite rewards: the answer names the draw, 1 bit = log 2 nats
    basis = np.zeros((2, 1, 6))
    basis[0, 0, 0], basis[1, 0, 0] = 40.0, -40.0
    b = Belief(basis, belief.hypotheses, belief.mix, belief.voter_weights, belief.new_annotator, True)
    got = score_pool("reward", b, pool)
    first = [r for r, (i, j) in enumerate(pairs) if i == 0]
    assert np.allclose(got[first], np.log(2), atol=1e-6)


def _smith_brute(margin, valid):
    idx = [i for i in range(len(valid)) if valid[i]]
    for size in range(1, len(idx) + 1):
        for sub in itertools.combinations(idx, size):
            out = [j for j in idx if j not in sub]
            if all(margin[i, j] > 0 for i in sub for j in out):  # members strictly beat outsiders
                return set(sub)


def test_smith_sets_match_subset_enumeration():
    rng = np.random.default_rng(1)
    for _ in range(200):
        M = rng.integers(2, 6)
        A = rng.integers(-2, 3, size=(M, M)).astype(float)
        margin = A - A.T
        mask = np.ones((1, M), bool)
        got = smith_sets(margin[None, None], mask)[0, 0]
        assert set(np.flatnonzero(got)) == _smith_brute(margin, mask[0])


def test_decision_objective_matches_explicit_conditional_entropies():
    belief, pool, pairs = _setup(S=30, K=3, n=4, seed=5)
    codes, smith = outcome_codes(belief, pool)
    got = score_pool("decision", belief, pool, codes)
    # outcome per draw recomputed by brute force from the voters' margins
    sets = []
    for s in range(30):
        r = belief.basis[s]
        margin = sum(belief.voter_weights[k] * (2 / (1 + np.exp(-(r[k][:, None] - r[k][None, :]))) - 1) for k in range(3))
        sets.append(frozenset(_smith_brute(margin, np.ones(4, bool))))
    for row, (i, j) in enumerate(pairs):
        ps = np.array([sum(belief.mix[row, h] * _p(belief, s, h, i, j) for h in range(3)) for s in range(30)])
        h_y = _entropy([ps.mean(), 1 - ps.mean()])
        cond = 0.0
        for o in set(sets):
            sel = np.array([x == o for x in sets])
            q = ps[sel].mean()
            cond += sel.mean() * _entropy([q, 1 - q])
        assert got[row] == pytest.approx(h_y - cond, abs=1e-9)


def test_decision_objective_reads_each_draws_voter_weights():
    belief, pool, pairs = _setup(S=25, K=3, n=4, seed=6)
    belief.voter_draws = np.random.default_rng(0).dirichlet(np.ones(3) * 0.5, size=25)
    codes, _ = outcome_codes(belief, pool)
    got = score_pool("decision", belief, pool, codes)
    sets = []
    for s in range(25):
        r = belief.basis[s]
        w = belief.voter_draws[s]
        margin = sum(w[k] * (2 / (1 + np.exp(-(r[k][:, None] - r[k][None, :]))) - 1) for k in range(3))
        sets.append(frozenset(_smith_brute(margin, np.ones(4, bool))))
    for row, (i, j) in enumerate(pairs):
        ps = np.array([sum(belief.mix[row, h] * _p(belief, s, h, i, j) for h in range(3)) for s in range(25)])
        cond = sum(np.mean([x == o for x in sets]) * _entropy([ps[[x == o for x in sets]].mean(),
                                                               1 - ps[[x == o for x in sets]].mean()])
                   for o in set(sets))
        assert got[row] == pytest.approx(_entropy([ps.mean(), 1 - ps.mean()]) - cond, abs=1e-9)


def test_uncertainty_is_predictive_entropy_and_random_is_seeded():
    belief, pool, pairs = _setup(S=5, K=2, seed=2)
    got = score_pool("uncertainty", belief, pool)
    i, j = pairs[0]
    p = np.mean([sum(belief.mix[0, h] * _p(belief, s, h, i, j) for h in range(2)) for s in range(5)])
    assert got[0] == pytest.approx(_entropy([p, 1 - p]))
    np.testing.assert_array_equal(score_pool("random", belief, pool, random_state=3),
                                  score_pool("random", belief, pool, random_state=3))

"""Kemeny DP and the stacked HiGHS programs against brute force and hand-solved answers
(written to kill mutmut survivors; tests/MUTATION.md)."""

import itertools

import numpy as np
import pytest

import mixpref as mp
from mixpref.aggregation.kemeny import kemeny_top_scores
from mixpref.aggregation.lp import block_linprog, maximal_lottery_lp, maxmin_lp, minmax_regret_lp


def _brute_top(margin, m_real):
    """Best objective of a ranking of the real candidates with candidate i on top (enumeration)."""
    top = np.full(m_real, -np.inf)
    for perm in itertools.permutations(range(m_real)):
        obj = sum(margin[a, b] for x, a in enumerate(perm) for b in perm[x + 1:])
        top[perm[0]] = max(top[perm[0]], obj)
    return top


@pytest.mark.parametrize("max_entries", [20_000_000, 1, 200])
def test_kemeny_top_scores_equal_enumeration(max_entries):
    rng = np.random.default_rng(4)
    n, m = 7, 5
    a = rng.normal(size=(n, m, m))
    margin = np.triu(a, 1) - np.swapaxes(np.triu(a, 1), 1, 2)
    top = kemeny_top_scores(margin, max_entries=max_entries)
    for p in range(n):
        np.testing.assert_allclose(top[p], _brute_top(margin[p], m), atol=1e-12)


def test_kemeny_padding_with_zero_margin_keeps_real_tops():
    rng = np.random.default_rng(8)
    a = rng.normal(size=(4, 4))
    real = np.triu(a, 1) - np.triu(a, 1).T
    margin = np.zeros((1, 6, 6))
    margin[0, :4, :4] = real
    top = kemeny_top_scores(margin)
    np.testing.assert_allclose(top[0, :4], _brute_top(real, 4), atol=1e-12)


def test_kemeny_refuses_thirteen_candidates():
    with pytest.raises(mp.DataError, match=r"^kemeny: 13 candidates on some prompt; the exact rule is exponential, "
                                           r"expected at most 12$"):
        kemeny_top_scores(np.zeros((1, 13, 13)))
    assert kemeny_top_scores(np.zeros((1, 12, 12)), max_entries=10**8).shape == (1, 12)


def _textbook_ml(game_p):
    from scipy.optimize import linprog

    m = game_p.shape[0]
    res = linprog(np.r_[np.zeros(m), -1.0], A_ub=np.hstack([-game_p.T, np.ones((m, 1))]), b_ub=np.zeros(m),
                  A_eq=np.r_[np.ones(m), 0.0][None], b_eq=[1.0], bounds=[(0, None)] * m + [(None, None)], method="highs")
    return res.x[:m]


@pytest.mark.parametrize("per_prompt", [False, True])
@pytest.mark.parametrize("chunk_size", [2000, 2])
def test_maximal_lottery_lp_with_padding_and_chunks(per_prompt, chunk_size):
    rng = np.random.default_rng(21)
    n, m = 5, 5
    a = rng.uniform(-1, 1, size=(n, m, m))
    game = np.triu(a, 1) - np.swapaxes(np.triu(a, 1), 1, 2)
    mask = np.ones((n, m), dtype=bool)
    mask[1, 3:] = False
    mask[4, 4] = False
    game = np.where(mask[:, :, None] & mask[:, None, :], game, 0.0)
    got = maximal_lottery_lp(game, mask, per_prompt=per_prompt, chunk_size=chunk_size)
    for p in range(n):
        idx = np.flatnonzero(mask[p])
        want = np.zeros(m)
        want[idx] = _textbook_ml(game[p][np.ix_(idx, idx)])
        np.testing.assert_allclose(got[p], want, atol=1e-7)
    assert (got[~mask] == 0).all()


def test_block_linprog_chunks_and_failure_message():
    # minimise c.z on [0, 1]^2 subject to z0 + z1 >= 1 (as -z0 - z1 <= -1) and z0 = z1 for prompt 1 only
    c = np.array([[1.0, 2.0], [2.0, 1.0], [1.0, 1.0]])
    a_ub = np.tile(np.array([[[-1.0, -1.0]]]), (3, 1, 1))
    b_ub = np.full((3, 1), -1.0)
    a_eq = np.array([[[0.0, 0.0]], [[1.0, -1.0]], [[0.0, 0.0]]])
    b_eq = np.zeros((3, 1))
    lower, upper = np.zeros((3, 2)), np.ones((3, 2))
    for chunk in (1, 2, 2000):
        z = block_linprog(c, a_ub, b_ub, a_eq, b_eq, lower, upper, chunk_size=chunk)
        np.testing.assert_allclose(z[:2], [[1.0, 0.0], [0.5, 0.5]], atol=1e-9)
        assert z[2].sum() == pytest.approx(1.0)
    # infeasible second chunk: z0 + z1 >= 3 on [0, 1]^2
    b_bad = b_ub.copy()
    b_bad[2] = -3.0
    with pytest.raises(RuntimeError, match=r"^HiGHS failed on prompts 2\.\.2: "):
        block_linprog(c, a_ub, b_bad, a_eq, b_eq, lower, upper, chunk_size=2)


def test_maxmin_and_regret_by_hand_with_large_utilities():
    # two types with opposite favourites and a compromise c; utilities far from [0, 1]
    u = np.array([[[10.0, 0.0, 6.0], [0.0, 10.0, 6.0]]])
    mask = np.ones((1, 3), dtype=bool)
    both = np.ones((1, 2), dtype=bool)
    x, v = maxmin_lp(u, both, mask)
    np.testing.assert_allclose(x, [[0.0, 0.0, 1.0]], atol=1e-9)  # 6 > 5 from mixing a and b
    np.testing.assert_allclose(v, [6.0], atol=1e-9)
    x, v = minmax_regret_lp(u, both, mask)
    np.testing.assert_allclose(x, [[0.0, 0.0, 1.0]], atol=1e-9)  # regret 4 < 5
    np.testing.assert_allclose(v, [4.0], atol=1e-9)
    only_first = np.array([[True, False]])
    x, v = maxmin_lp(u, only_first, mask)
    np.testing.assert_allclose(x, [[1.0, 0.0, 0.0]], atol=1e-9)
    np.testing.assert_allclose(v, [10.0], atol=1e-9)
    x, v = minmax_regret_lp(u, only_first, mask)
    np.testing.assert_allclose(x, [[1.0, 0.0, 0.0]], atol=1e-9)
    np.testing.assert_allclose(v, [0.0], atol=1e-9)


def test_negative_utilities_and_padding():
    # padding (third candidate) carries a huge utility that must be ignored
    u = np.array([[[-20.0, -30.0, 99.0], [-30.0, -20.0, 99.0]]])
    mask = np.array([[True, True, False]])
    both = np.ones((1, 2), dtype=bool)
    x, v = maxmin_lp(u, both, mask)
    np.testing.assert_allclose(x, [[0.5, 0.5, 0.0]], atol=1e-9)
    np.testing.assert_allclose(v, [-25.0], atol=1e-9)
    x, v = minmax_regret_lp(u, both, mask)
    np.testing.assert_allclose(x, [[0.5, 0.5, 0.0]], atol=1e-9)
    np.testing.assert_allclose(v, [5.0], atol=1e-9)


def test_non_finite_utilities_are_refused():
    u = np.array([[[np.nan, 0.0]]])
    with pytest.raises(mp.DataError, match=r"^utilities: expected finite numbers at every real candidate$"):
        maxmin_lp(u, np.ones((1, 1), bool), np.ones((1, 2), bool))


def _textbook_minmax_regret(u):
    """min_x max_k (max_i u_ki - x.u_k) for one prompt, as a dense LP over (x, s)."""
    from scipy.optimize import linprog

    k, m = u.shape
    res = linprog(np.r_[np.zeros(m), 1.0], A_ub=np.hstack([-u, -np.ones((k, 1))]), b_ub=-u.max(axis=1),
                  A_eq=np.r_[np.ones(m), 0.0][None], b_eq=[1.0], bounds=[(0, None)] * m + [(None, None)], method="highs")
    return res.x[:m], res.x[-1]


def test_minmax_regret_with_types_of_different_best_utilities():
    # type 0's favourite is worth 4, type 1's is worth 10: each regret is against its own best
    u = np.array([[[4.0, 0.0, 3.0], [0.0, 10.0, 6.0]]])
    x, v = minmax_regret_lp(u, np.ones((1, 2), bool), np.ones((1, 3), bool))
    want_x, want_v = _textbook_minmax_regret(u[0])
    assert want_v == pytest.approx(16 / 7)  # mixing b and c: x = (0, 3/7, 4/7)
    np.testing.assert_allclose(x[0], want_x, atol=1e-9)
    np.testing.assert_allclose(x[0], [0.0, 3 / 7, 4 / 7], atol=1e-9)
    assert v[0] == pytest.approx(16 / 7, abs=1e-9)

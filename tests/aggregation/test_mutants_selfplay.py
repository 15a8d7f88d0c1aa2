"""Self-play internals against an independent per-prompt LP (written to kill mutmut survivors;
tests/MUTATION.md)."""

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from mixpref.aggregation import selfplay
from mixpref.aggregation.selfplay import maximal_lottery_selfplay


def _textbook_ml(game_p):
    """Maximal lottery of one prompt by a dense textbook LP (maximise the game value)."""
    m = game_p.shape[0]
    res = linprog(np.r_[np.zeros(m), -1.0], A_ub=np.hstack([-game_p.T, np.ones((m, 1))]), b_ub=np.zeros(m),
                  A_eq=np.r_[np.ones(m), 0.0][None], b_eq=[1.0], bounds=[(0, None)] * m + [(None, None)], method="highs")
    return res.x[:m]


def _random_games(n, m, seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, size=(n, m, m))
    return np.triu(a, 1) - np.swapaxes(np.triu(a, 1), 1, 2)


def _expected(game, mask):
    out = np.zeros(mask.shape)
    for p in range(len(game)):
        idx = np.flatnonzero(mask[p])
        out[p, idx] = _textbook_ml(game[p][np.ix_(idx, idx)])
    return out


def test_enumerate_supports_is_the_exact_maximal_lottery():
    game = _random_games(12, 5, seed=3)
    mask = np.ones((12, 5), dtype=bool)
    mask[3, 4] = mask[7, 3:] = False  # padding: 4 and 3 real candidates
    game = np.where(mask[:, :, None] & mask[:, None, :], game, 0.0)
    probs, expl = selfplay._enumerate_supports(torch.as_tensor(game), torch.as_tensor(mask))
    probs, expl = probs.numpy(), expl.numpy()
    want = _expected(game, mask)
    np.testing.assert_allclose(probs, want, atol=1e-7)
    assert (probs[~mask] == 0).all()
    # the reported exploitability is that of the returned lottery (here 0: exact)
    u = np.einsum("pij,pj->pi", game, probs)
    np.testing.assert_allclose(expl, np.maximum(np.where(mask, u, -np.inf).max(axis=1), 0.0), atol=1e-12)
    assert expl.max() <= 1e-9


def test_enumerate_supports_on_a_pure_winner_and_a_cycle():
    rps = np.array([[0, 1, -1], [-1, 0, 1], [1, -1, 0]], dtype=float)
    winner = np.array([[0, 1, 1], [-1, 0, 1], [-1, -1, 0]], dtype=float)
    probs, expl = selfplay._enumerate_supports(torch.as_tensor(np.stack([rps, winner])), torch.ones((2, 3), dtype=torch.bool))
    np.testing.assert_allclose(probs.numpy(), [[1 / 3, 1 / 3, 1 / 3], [1, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(expl.numpy(), [0.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_selfplay_is_exact_after_one_step(dtype):
    """One iteration cannot reveal the supports: polish and enumeration must make it exact."""
    game = _random_games(30, 6, seed=11)
    mask = np.ones((30, 6), dtype=bool)
    mask[::4, 5] = False
    game = np.where(mask[:, :, None] & mask[:, None, :], game, 0.0)
    probs, expl, info = maximal_lottery_selfplay(game, mask, tol=1e-12, max_iter=1, device="cpu", dtype=dtype)
    assert expl.max() <= 1e-12
    np.testing.assert_allclose(probs, _expected(game, mask), atol=1e-7)
    assert info["iterations"] == 1 and info["device"] == "cpu"
    assert info["polished"] == 1.0


def test_selfplay_info_and_exploitability_match_an_independent_check():
    game = _random_games(40, 4, seed=5)
    probs, expl, info = maximal_lottery_selfplay(game, tol=1e-6, device="cpu")
    want = _expected(game, np.ones((40, 4), dtype=bool))
    np.testing.assert_allclose(probs, want, atol=1e-6)
    u = np.einsum("pij,pj->pi", game, probs)
    np.testing.assert_allclose(expl, np.maximum(u.max(axis=1), 0.0), atol=1e-12)
    assert info["converged"] == 1.0 and 1 <= info["iterations"] <= 10_000
    assert probs.dtype == np.float64 and expl.dtype == np.float64


def test_selfplay_without_polish_warns_how_many_prompts_missed():
    game = _random_games(7, 5, seed=2)
    with pytest.warns(RuntimeWarning, match=r"maximal_lottery_selfplay: 7 of 7 prompts above exploitability 1e-12 after "
                                            r"3 iterations \(largest 0\.\d+\); raise max_iter or use method='lp'"):
        probs, expl, info = maximal_lottery_selfplay(game, tol=1e-12, max_iter=3, polish=False, device="cpu")
    assert info["iterations"] == 3 and info["polished"] == 0.0 and info["converged"] == 0.0
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_polish_finds_the_support_within_a_few_checks():
    """Exact equalisers on the iterates' supports end the loop early; without them Hedge alone
    needs thousands of steps (checked: polish=False is still above 1e-6 after 3,000)."""
    game = _random_games(50, 5, seed=12)
    probs, expl, info = maximal_lottery_selfplay(game, tol=1e-6, max_iter=200, device="cpu")
    assert info["iterations"] <= 60
    assert expl.max() <= 1e-9 and info["polished"] >= 0.9
    np.testing.assert_allclose(probs, _expected(game, np.ones((50, 5), dtype=bool)), atol=1e-7)


def test_a_prompt_without_candidates_is_refused_even_beside_others():
    mask = np.array([[True, True], [False, False], [True, False]])
    with pytest.raises(Exception) as err:
        maximal_lottery_selfplay(np.zeros((3, 2, 2)), mask, device="cpu")
    assert str(err.value) == "mask: prompts [1] have no candidate"

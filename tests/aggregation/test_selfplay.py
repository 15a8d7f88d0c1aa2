"""Self-play maximal lotteries against the exact LP (scipy HiGHS)."""

import numpy as np
import pytest
from scipy.optimize import linprog

import mixpref as mp
from mixpref.aggregation.lp import maximal_lottery_lp
from mixpref._device import resolve_device
from mixpref.aggregation.selfplay import exploitability, maximal_lottery_selfplay

from ._elections import random_voter_profiles, stack_elections


def _unique_and_well_posed(game, probs, mask, gap=1e-6):
    """Prompts whose LP solution is a strict equilibrium with a nonsingular equaliser system:
    then the maximal lottery is unique."""
    out = np.zeros(len(probs), dtype=bool)
    u = np.einsum("pij,pj->pi", game, probs)
    for p in range(len(probs)):
        s = (probs[p] > 1e-9) & mask[p]
        outside = mask[p] & ~s
        if outside.any() and u[p, outside].max() > -gap:
            continue
        idx = np.flatnonzero(s)
        system = np.vstack([game[p][np.ix_(idx, idx)], np.ones((1, len(idx)))])
        out[p] = np.linalg.matrix_rank(system, tol=1e-9) == len(idx)
    return out


def _scipy_ml(game_p):
    """Independent textbook LP for one prompt (dense, maximise the game value)."""
    m = game_p.shape[0]
    res = linprog(
        np.r_[np.zeros(m), -1.0],
        A_ub=np.hstack([-game_p.T, np.ones((m, 1))]),
        b_ub=np.zeros(m),
        A_eq=np.r_[np.ones(m), 0.0][None],
        b_eq=[1.0],
        bounds=[(0, None)] * m + [(None, None)],
        method="highs",
    )
    return res.x[:m]


def test_selfplay_matches_lp_on_bt_mixture(bt_mixture):
    pooled = bt_mixture.pooled()
    game = pooled - np.swapaxes(pooled, 1, 2)
    mask = bt_mixture.mask
    lp = mp.aggregate(bt_mixture, "maximal_lottery", method="lp")
    sp = mp.aggregate(bt_mixture, "maximal_lottery", method="selfplay", device="cpu")
    assert sp.metadata["max_exploitability"] <= 1e-3
    assert sp.metadata["exploitability"].shape == (len(bt_mixture),)
    unique = _unique_and_well_posed(game, lp.probs, mask)
    assert unique.sum() >= 250
    l1 = np.abs(sp.probs - lp.probs).sum(axis=1)
    assert l1[unique].max() <= 1e-2
    # the block-diagonal LP agrees with a per-prompt textbook LP
    for p in np.flatnonzero(unique)[:20]:
        np.testing.assert_allclose(lp.probs[p], _scipy_ml(game[p]), atol=1e-6)


def test_selfplay_matches_lp_on_cyclic_elections():
    profile = stack_elections(random_voter_profiles(200, seed=11, min_voters=3, max_voters=3))
    pooled = profile.pooled()
    game = pooled - np.swapaxes(pooled, 1, 2)
    probs, expl, info = maximal_lottery_selfplay(game, profile.mask, device="cpu")
    assert expl.max() <= 1e-3
    assert info["converged"] == 1.0
    lp = maximal_lottery_lp(game, profile.mask)
    # three voters: an odd electorate, the maximal lottery is unique
    assert np.abs(probs - lp).sum(axis=1).max() <= 1e-2
    np.testing.assert_allclose(exploitability(game, probs, profile.mask), expl, atol=1e-12)


def test_selfplay_without_polish_still_converges():
    profile = stack_elections(random_voter_profiles(50, seed=5, min_voters=5, max_voters=5))
    pooled = profile.pooled()
    game = pooled - np.swapaxes(pooled, 1, 2)
    probs, expl, info = maximal_lottery_selfplay(game, profile.mask, polish=False, device="cpu", max_iter=20_000)
    assert expl.max() <= 1e-3
    assert info["polished"] == 0.0
    assert np.allclose(probs.sum(axis=1), 1.0) and (probs[~profile.mask] == 0).all()


@pytest.mark.parametrize("method", ["lp", "selfplay"])
def test_condorcet_winner_is_the_maximal_lottery(method):
    rng = np.random.default_rng(0)
    # 40 prompts of 6 candidates; candidate c beats every other with pooled probability > 1/2
    p_, m = 40, 6
    base = rng.uniform(0.05, 0.95, size=(p_, m, m))
    mats = np.triu(base, 1) + np.tril(1 - np.swapaxes(base, 1, 2), -1)
    winners = rng.integers(0, m, size=p_)
    for p, c in enumerate(winners):
        mats[p, c, :] = rng.uniform(0.55, 0.9, size=m)
        mats[p, :, c] = 1 - mats[p, c, :]
    mats[:, np.arange(m), np.arange(m)] = 0.5
    profile = mp.Profile(mats[:, None], weights=[1.0])
    lot = mp.aggregate(profile, "maximal_lottery", method=method, device="cpu")
    np.testing.assert_allclose(lot.probs[np.arange(p_), winners], 1.0, atol=1e-9)


def test_padding_never_gets_probability():
    profile = stack_elections(random_voter_profiles(30, seed=1, min_cands=2, max_cands=7))
    lot = mp.aggregate(profile, "maximal_lottery", method="selfplay", device="cpu")
    assert (lot.probs[~profile.mask] == 0).all()
    assert np.isnan(lot.scores[~profile.mask]).all()
    np.testing.assert_allclose(lot.probs.sum(axis=1), 1.0)


def test_single_candidate_prompt():
    profile = mp.Profile([np.full((1, 1, 1), 0.5), np.array([[[0.5, 0.7], [0.3, 0.5]]])], weights=[1.0])
    for method in ("lp", "selfplay"):
        lot = mp.aggregate(profile, "maximal_lottery", method=method, device="cpu")
        np.testing.assert_allclose(lot.probs, [[1.0, 0.0], [1.0, 0.0]], atol=1e-9)


def test_device_auto_picks_cpu_without_cuda():
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(mp.DataError, match="device"):
        resolve_device("not-a-device")


def test_selfplay_bad_options():
    game = np.zeros((1, 2, 2))
    with pytest.raises(mp.DataError, match="step_size"):
        maximal_lottery_selfplay(game, step_size=-1.0)
    with pytest.raises(mp.DataError, match="game"):
        maximal_lottery_selfplay(np.zeros((2, 3)))


@pytest.mark.gpu
def test_selfplay_on_cuda(bt_mixture):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    lot = mp.aggregate(bt_mixture, "maximal_lottery", method="selfplay", device="cuda")
    assert lot.metadata["device"].startswith("cuda")
    assert lot.metadata["max_exploitability"] <= 1e-3


def test_num_threads_is_restored_and_validated():
    import torch

    before = torch.get_num_threads()
    game = np.array([[[0.0, 0.2], [-0.2, 0.0]]])
    probs, _, _ = maximal_lottery_selfplay(game, device="cpu", num_threads=1)
    assert torch.get_num_threads() == before
    np.testing.assert_allclose(probs, [[1.0, 0.0]])
    with pytest.raises(mp.DataError, match="num_threads"):
        maximal_lottery_selfplay(game, device="cpu", num_threads=0)
    with pytest.raises(mp.DataError, match="mask"):
        maximal_lottery_selfplay(game, mask=np.array([[False, False]]), device="cpu")

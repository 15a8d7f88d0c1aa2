"""Maximal lotteries of many prompts at once by self-play (batched optimistic Hedge in torch).

The maximal lottery of a prompt is the optimal strategy of the symmetric zero-sum game
with payoff ``A = P̄ - P̄ᵀ`` (the game self-play preference optimisation solves). Instead of
one linear program per prompt, all prompts play the game together: each step is one
batched matrix-vector product, so 100,000 prompts cost about as much as one.

Why hand-written: no maintained library solves batches of small matrix games on a GPU.
"""

from __future__ import annotations

import math

import numpy as np

from .._device import resolve_device, thread_limit
from ..errors import DataError


def exploitability(game, probs, mask=None):
    """Largest expected payoff any candidate gets against the lottery, per prompt.

    Parameters
    ----------
    game : ndarray (P, M, M)
        Skew-symmetric payoff ``A_ij = P̄_ij - P̄_ji``.
    probs : ndarray (P, M)
    mask : ndarray (P, M) of bool, optional

    Returns
    -------
    ndarray (P,)
        ``max_i (A probs)_i >= 0``; 0 exactly at a maximal lottery.

    Examples
    --------
    >>> import numpy as np
    >>> rps = np.array([[[0, 1, -1], [-1, 0, 1], [1, -1, 0]]], dtype=float)
    >>> float(exploitability(rps, np.full((1, 3), 1 / 3))[0])
    0.0
    """
    u = np.einsum("pij,pj->pi", game, probs)
    if mask is not None:
        u = np.where(mask, u, -np.inf)
    return np.maximum(u.max(axis=1), 0.0)


def _bmv(a, x):
    """Batched matrix-vector product (P, M, M) @ (P, M) -> (P, M)."""
    return (a @ x.unsqueeze(-1)).squeeze(-1)


def _solve(lhs, rhs):
    """Batched linear solves; rows whose system is singular come back as NaN."""
    import torch

    if lhs.device.type == "cpu":
        # numpy's batched LAPACK solve is several times faster than torch's on CPU, but one
        # singular system fails the whole batch: then fall back to torch's per-system flags
        import numpy as np

        try:
            sol = np.linalg.solve(lhs.numpy(), rhs.numpy()[..., None])[..., 0]
            return torch.from_numpy(sol)
        except np.linalg.LinAlgError:
            pass
    sol, info = torch.linalg.solve_ex(lhs, rhs)
    sol[info != 0] = float("nan")
    return sol


def _polish(game64, key, mask):
    """Exact equalising strategies on guessed supports: an LP-free final step.

    Yields one candidate lottery per guess: the top-s candidates by ``key`` (an iterate's
    probabilities, or payoffs against it) for odd s, since a unique maximal lottery of a
    skew-symmetric game has odd support. For a support S it solves the bordered system
    ``A_SS y_S = v 1, sum y_S = 1`` (zero outside S); when S is the maximal lottery's
    support this is the maximal lottery to machine precision. Invalid candidates
    (singular, negative, too few candidates) are NaN rows.
    """
    import torch

    n, m = key.shape
    dt, dev = game64.dtype, game64.device
    n_real = mask.sum(dim=1)
    order = torch.argsort(torch.where(mask, key.to(dt), -torch.inf), dim=1, descending=True)
    # a_sorted[p] = A[p][order][:, order]
    a_sorted = torch.gather(game64, 1, order.unsqueeze(-1).expand(n, m, m))
    a_sorted = torch.gather(a_sorted, 2, order.unsqueeze(1).expand(n, m, m))
    for size in range(1, m + 1, 2):
        if not bool((n_real >= size).any()):
            break
        if size == 1:
            y_s = torch.ones((n, 1), dtype=dt, device=dev)  # a pure strategy needs no solve
        else:
            ass = a_sorted[:, :size, :size]
            top = torch.cat([ass, -torch.ones((n, size, 1), dtype=dt, device=dev)], dim=2)
            bottom = torch.cat(
                [torch.ones((n, 1, size), dtype=dt, device=dev), torch.zeros((n, 1, 1), dtype=dt, device=dev)], dim=2
            )
            rhs = torch.zeros((n, size + 1), dtype=dt, device=dev)
            rhs[:, size] = 1.0
            y_s = _solve(torch.cat([top, bottom], dim=1), rhs)[:, :size]
        ok = torch.isfinite(y_s).all(dim=1) & (y_s > -1e-9).all(dim=1) & (n_real >= size)
        y_s = torch.nan_to_num(y_s).clamp_min(0.0)
        y = torch.zeros((n, m), dtype=dt, device=dev)
        y.scatter_(1, order[:, :size], y_s)
        y = y / y.sum(dim=1, keepdim=True).clamp_min(1e-300)
        y[~ok] = float("nan")
        yield y


def _enumerate_supports(game64, mask):
    """Best equalising strategy over every odd support: exact for the few hard prompts.

    For prompts whose iterates never revealed their support (nearly degenerate games),
    try all odd subsets of candidates (2^(M-1) of them) and keep, per prompt, the valid
    solution with the smallest exploitability. Returns (probs, exploitability).
    """
    import itertools

    import torch

    n, m = mask.shape
    dt, dev = game64.dtype, game64.device
    best = torch.full((n, m), float("nan"), dtype=dt, device=dev)
    best_e = torch.full((n,), float("inf"), dtype=dt, device=dev)
    for size in range(1, m + 1, 2):
        subsets = torch.tensor(list(itertools.combinations(range(m), size)), device=dev)  # (C, s)
        c = subsets.shape[0]
        idx = subsets.unsqueeze(0).expand(n, c, size)
        valid = torch.gather(mask.unsqueeze(1).expand(n, c, m), 2, idx).all(dim=2)  # (n, C)
        g = game64.unsqueeze(1).expand(n, c, m, m)
        ass = torch.gather(g, 2, idx.unsqueeze(-1).expand(n, c, size, m))
        ass = torch.gather(ass, 3, idx.unsqueeze(2).expand(n, c, size, size))
        top = torch.cat([ass, -torch.ones((n, c, size, 1), dtype=dt, device=dev)], dim=3)
        bottom = torch.cat(
            [torch.ones((n, c, 1, size), dtype=dt, device=dev), torch.zeros((n, c, 1, 1), dtype=dt, device=dev)], dim=3
        )
        rhs = torch.zeros((n, c, size + 1), dtype=dt, device=dev)
        rhs[..., size] = 1.0
        y_s = _solve(torch.cat([top, bottom], dim=2).reshape(n * c, size + 1, size + 1), rhs.reshape(n * c, size + 1))
        y_s = y_s.reshape(n, c, size + 1)[..., :size]
        ok = valid & torch.isfinite(y_s).all(dim=2) & (y_s > -1e-9).all(dim=2)
        y = torch.zeros((n, c, m), dtype=dt, device=dev)
        y.scatter_(2, idx, torch.nan_to_num(y_s).clamp_min(0.0))
        y = y / y.sum(dim=2, keepdim=True).clamp_min(1e-300)
        u = (game64.unsqueeze(1) @ y.unsqueeze(-1)).squeeze(-1)  # (n, C, M)
        e = torch.where(mask.unsqueeze(1), u, -torch.inf).amax(dim=2).clamp_min(0.0)
        e = torch.where(ok, e, torch.full_like(e, float("inf")))
        e_min, arg = e.min(dim=1)
        better = e_min < best_e
        pick = y[torch.arange(n, device=dev), arg]
        best = torch.where(better.unsqueeze(1), pick, best)
        best_e = torch.where(better, e_min, best_e)
    return best, best_e


# at most this many support systems are enumerated for the prompts left inexact
_ENUMERATION_BUDGET = 2_000_000


def maximal_lottery_selfplay(
    game,
    mask=None,
    *,
    tol=1e-3,
    max_iter=10_000,
    step_size=4.0,
    check_every=10,
    polish=True,
    device="auto",
    dtype="float32",
    num_threads=1,
):
    """Maximal lotteries of a batch of symmetric zero-sum games by optimistic Hedge self-play.

    Every prompt runs optimistic multiplicative weights against itself,
    ``logits += eta * (2 u_t - u_{t-1})`` with ``u_t = A x_t``. Every ``check_every`` steps
    the last iterate, the running average of the iterates and (with ``polish``) exact
    equalising strategies on the supports they suggest are scored by their exact (float64)
    exploitability; each prompt keeps its best, and prompts at or below ``tol`` stop playing.
    The loop ends when the batch's largest exploitability is at most ``tol`` or after
    ``max_iter`` steps (with a warning naming how many prompts missed ``tol``). Finally, the
    few prompts whose answer is still not exact (nearly degenerate games, whose iterates do
    not reveal the support) get every odd support tried, a batched solve that needs no LP.

    Parameters
    ----------
    game : array-like (P, M, M)
        Skew-symmetric payoffs ``A = P̄ - P̄ᵀ`` (entries in [-1, 1]).
    mask : array-like (P, M) of bool, optional
        True where a candidate exists; padding never gets probability.
    tol : float, default 1e-3
        Target exploitability (largest expected margin of any candidate against the lottery).
    max_iter : int, default 10000
    step_size : float, default 4.0
        Hedge learning rate ``eta`` (payoffs lie in [-1, 1]); optimism keeps large steps stable.
    check_every : int, default 10
    polish : bool, default True
        Try exact equalising strategies on the iterates' supports (a batched linear solve).
    device : {"auto", "cpu", "cuda", ...}, default "auto"
    dtype : {"float32", "float64"}, default "float32"
        Precision of the game loop (checks and polish always use float64).
    num_threads : int or None, default 1
        torch CPU threads while the loop runs (restored afterwards); ignored on CUDA. The
        loop is many small batched operations, where thread synchronisation costs more than
        it saves (measured: 10,000 prompts x 8 on a busy 2-core machine, 0.3 s with one
        thread, 2.5 s with two). ``None`` keeps torch's setting.

    Returns
    -------
    probs : ndarray (P, M) float64
    expl : ndarray (P,) float64
        Exploitability of each returned lottery.
    info : dict
        ``iterations``, ``device``, ``converged`` (fraction of prompts at or below ``tol``),
        ``polished`` (fraction of prompts whose answer came from the polish step).

    Examples
    --------
    >>> import numpy as np
    >>> rps = np.array([[[0, 1, -1], [-1, 0, 1], [1, -1, 0]]], dtype=float)
    >>> probs, expl, info = maximal_lottery_selfplay(rps, device="cpu")
    >>> np.round(probs, 3).tolist(), bool(expl[0] <= 1e-3)
    ([[0.333, 0.333, 0.333]], True)
    """
    dev = resolve_device(device)
    with thread_limit(num_threads if dev.type == "cpu" else None):
        return _selfplay(game, mask, tol, max_iter, step_size, check_every, polish, dev, dtype)


def _selfplay(game, mask, tol, max_iter, step_size, check_every, polish, dev, dtype):
    import torch

    game_np = np.asarray(game, dtype=np.float64)
    if game_np.ndim != 3 or game_np.shape[1] != game_np.shape[2]:
        raise DataError(f"game: expected shape (prompts, candidates, candidates), got {game_np.shape}")
    n, m = game_np.shape[:2]
    mask_np = np.ones((n, m), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask_np.shape != (n, m):
        raise DataError(f"mask: shape {mask_np.shape}, expected {(n, m)}")
    if not mask_np.any(axis=1).all():
        raise DataError(f"mask: prompts {np.flatnonzero(~mask_np.any(axis=1))[:5].tolist()} have no candidate")
    if dtype not in ("float32", "float64"):
        raise DataError(f"dtype: got {dtype!r}; expected 'float32' or 'float64'")
    if not (step_size > 0 and math.isfinite(step_size)):
        raise DataError(f"step_size: got {step_size!r}; expected a positive number")
    fdtype = getattr(torch, dtype)

    game64 = torch.as_tensor(game_np, dtype=torch.float64, device=dev)
    mask_t = torch.as_tensor(mask_np, device=dev)
    game_f = game64.to(fdtype)
    neg_inf = torch.tensor(float("-inf"), dtype=fdtype, device=dev)

    def expl_of(g64, x64, msk):
        u = _bmv(g64, x64)
        u = torch.where(msk, u, torch.tensor(float("-inf"), dtype=u.dtype, device=u.device))
        return u.amax(dim=1).clamp_min(0.0)

    best = mask_t.to(torch.float64) / mask_t.sum(dim=1, keepdim=True)
    best_expl = expl_of(game64, best, mask_t)
    from_polish = torch.zeros(n, dtype=torch.bool, device=dev)
    active = torch.nonzero(best_expl > tol).squeeze(1)

    # polish tries to be exact, not just within tol: exact answers are also close in L1
    exact_tol = min(tol, 1e-9)
    iterations = 0
    if active.numel():
        g = game_f[active]
        msk = mask_t[active]
        logits = torch.where(msk, torch.zeros((), dtype=fdtype, device=dev), neg_inf)
        x = torch.softmax(logits, dim=1)
        u_prev = _bmv(g, x)
        x_sum = torch.zeros_like(x)
        n_avg = 0
        for it in range(1, max_iter + 1):
            u = _bmv(g, x)
            logits = logits + step_size * (2.0 * u - u_prev)
            if it % check_every == 0:
                # softmax is shift-invariant; re-centring keeps float32 logits precise
                logits = logits - logits.amax(dim=1, keepdim=True)
            x = torch.softmax(logits, dim=1)
            u_prev = u
            x_sum += x
            n_avg += 1
            iterations = it
            if it % check_every and it != max_iter:
                continue
            g64 = game64[active]
            state = [best[active], best_expl[active], from_polish[active]]

            # defaults bind this iteration's arrays (the closure is only called within it)
            def consider(cand, sub=None, polished=False, state=state, g64=g64, msk=msk):
                # keep, per prompt, whichever lottery is least exploitable
                cur, cur_expl, cur_pol = (t if sub is None else t[sub] for t in state)
                gg, mm = (g64, msk) if sub is None else (g64[sub], msk[sub])
                e = expl_of(gg, torch.nan_to_num(cand, nan=0.0), mm)
                e = torch.where(torch.isnan(cand).any(dim=1), torch.full_like(e, float("inf")), e)
                better = e < cur_expl
                new = (
                    torch.where(better.unsqueeze(1), cand, cur),
                    torch.where(better, e, cur_expl),
                    torch.where(better, torch.full_like(cur_pol, polished), cur_pol),
                )
                for t, v in zip(state, new):
                    if sub is None:
                        t.copy_(v)
                    else:
                        t[sub] = v

            x_last = x.to(torch.float64)
            x_avg = (x_sum / n_avg).to(torch.float64)
            consider(x_last)
            consider(x_avg)
            if polish:
                # staged: later support guesses only for the prompts earlier ones left inexact
                for key in (lambda x=x_last: x, lambda g=g64, x=x_last: _bmv(g, x), lambda x=x_avg: x):
                    sub = torch.nonzero(state[1] > exact_tol).squeeze(1)
                    if not sub.numel():
                        break
                    k = key()[sub]
                    for cand in _polish(g64[sub], k, msk[sub]):
                        consider(cand, sub, polished=True)
            best[active], best_expl[active], from_polish[active] = state
            cur_expl = state[1]
            keep = cur_expl > tol
            if not bool(keep.any()):
                break
            if not bool(keep.all()):
                active, g, msk = active[keep], g[keep], msk[keep]
                logits, x, u_prev, x_sum = logits[keep], x[keep], u_prev[keep], x_sum[keep]
            # restart the average from here on: early iterates only slow it down
            if n_avg >= 4 * check_every:
                x_sum = x_sum * 0.0
                n_avg = 0
    if polish:
        left = torch.nonzero(best_expl > exact_tol).squeeze(1)
        if left.numel() and left.numel() * 2 ** (m - 1) <= _ENUMERATION_BUDGET:
            cand, cand_e = _enumerate_supports(game64[left], mask_t[left])
            better = cand_e < best_expl[left]
            upd = left[better]
            best[upd], best_expl[upd], from_polish[upd] = cand[better], cand_e[better], True
    probs = best.cpu().numpy()
    expl = best_expl.cpu().numpy()
    missed = int((expl > tol).sum())
    if missed:
        import warnings

        warnings.warn(
            f"maximal_lottery_selfplay: {missed} of {n} prompts above exploitability {tol:g} after "
            f"{iterations} iterations (largest {expl.max():.3g}); raise max_iter or use method='lp'",
            RuntimeWarning,
            stacklevel=3,
        )
    info = {
        "iterations": iterations,
        "device": str(dev),
        "converged": float(np.mean(expl <= tol)),
        "polished": float(from_polish.float().mean().cpu()),
    }
    return probs, expl, info

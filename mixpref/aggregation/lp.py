"""Linear programs of many prompts with scipy's HiGHS: exact maximal lotteries, max-min, min-max regret.

Prompts are independent, so many prompts' programs are stacked into one block-diagonal
program (the optimum of a sum of independent problems is the sum of their optima): one
HiGHS call per chunk instead of one Python-level ``linprog`` call per prompt.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def block_linprog(c, a_ub, b_ub, a_eq, b_eq, lower, upper, chunk_size=2000):
    """Solve P independent LPs of equal shape as block-diagonal programs.

    Minimise ``c_p @ z`` subject to ``a_ub_p @ z <= b_ub_p``, ``a_eq_p @ z = b_eq_p``,
    ``lower_p <= z <= upper_p`` for every p.

    Parameters
    ----------
    c : ndarray (P, n)
    a_ub : ndarray (P, r, n)
    b_ub : ndarray (P, r)
    a_eq : ndarray (P, e, n)
    b_eq : ndarray (P, e)
    lower, upper : ndarray (P, n)
        Bounds (``-inf``/``inf`` allowed).
    chunk_size : int, default 2000
        Prompts per HiGHS call.

    Returns
    -------
    ndarray (P, n)
        The solutions.

    Examples
    --------
    >>> import numpy as np
    >>> z = block_linprog(np.array([[1.0], [-1.0]]), np.zeros((2, 0, 1)), np.zeros((2, 0)),
    ...                   np.zeros((2, 0, 1)), np.zeros((2, 0)), np.zeros((2, 1)), np.ones((2, 1)))
    >>> z.ravel().tolist()
    [0.0, 1.0]
    """
    from scipy import sparse
    from scipy.optimize import linprog

    n_prob, n_var = c.shape
    out = np.empty((n_prob, n_var))
    for start in range(0, n_prob, chunk_size):
        sl = slice(start, min(start + chunk_size, n_prob))
        b = sl.stop - sl.start
        kwargs = {}
        for name, mat, rhs in (("ub", a_ub[sl], b_ub[sl]), ("eq", a_eq[sl], b_eq[sl])):
            rows = mat.shape[1]
            if rows == 0:
                continue
            p_idx, r_idx, v_idx = np.nonzero(mat)
            blocks = sparse.csr_matrix(
                (mat[p_idx, r_idx, v_idx], (p_idx * rows + r_idx, p_idx * n_var + v_idx)), shape=(b * rows, b * n_var)
            )
            kwargs[f"A_{name}"] = blocks
            kwargs[f"b_{name}"] = rhs.reshape(b * rows)
        bounds = np.stack([lower[sl].reshape(-1), upper[sl].reshape(-1)], axis=1)
        res = linprog(c[sl].reshape(-1), bounds=bounds, method="highs", **kwargs)
        if res.status != 0:
            raise RuntimeError(f"HiGHS failed on prompts {sl.start}..{sl.stop - 1}: {res.message}")
        out[sl] = res.x.reshape(b, n_var)
    return out


def _clean(x, mask):
    x = np.where(mask, np.clip(x, 0.0, None), 0.0)
    return x / x.sum(axis=1, keepdims=True)


def maximal_lottery_lp(game, mask, per_prompt=False, chunk_size=2000):
    """Exact maximal lotteries by linear programming (scipy HiGHS).

    For each prompt: maximise ``v`` subject to ``(Aᵀ x)_j >= v`` for every real
    candidate j, ``sum x = 1``, ``x >= 0`` (``x = 0`` at padding); the optimal ``v`` is 0 for
    the skew-symmetric ``A = P̄ - P̄ᵀ``.

    Parameters
    ----------
    game : ndarray (P, M, M)
    mask : ndarray (P, M) of bool
    per_prompt : bool, default False
        One ``linprog`` call per prompt (the textbook way, kept as a baseline) instead of
        block-diagonal batches.
    chunk_size : int, default 2000

    Returns
    -------
    ndarray (P, M)

    Examples
    --------
    >>> import numpy as np
    >>> rps = np.array([[[0, 1, -1], [-1, 0, 1], [1, -1, 0]]], dtype=float)
    >>> np.round(maximal_lottery_lp(rps, np.ones((1, 3), bool)), 6).tolist()
    [[0.333333, 0.333333, 0.333333]]
    """
    game = np.asarray(game, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    n, m = mask.shape
    if per_prompt:
        from scipy.optimize import linprog

        out = np.zeros((n, m))
        for p in range(n):
            idx = np.flatnonzero(mask[p])
            a = game[p][np.ix_(idx, idx)]
            k = len(idx)
            c = np.zeros(k + 1)
            c[-1] = -1.0
            a_ub = np.hstack([-a.T, np.ones((k, 1))])
            a_eq = np.hstack([np.ones((1, k)), np.zeros((1, 1))])
            bounds = [(0, None)] * k + [(None, None)]
            res = linprog(c, A_ub=a_ub, b_ub=np.zeros(k), A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs")
            if res.status != 0:
                raise RuntimeError(f"HiGHS failed on prompt {p}: {res.message}")
            out[p, idx] = res.x[:k]
        return _clean(out, mask)
    c = np.zeros((n, m + 1))
    c[:, -1] = -1.0
    a_ub = np.concatenate([-np.swapaxes(game, 1, 2), np.ones((n, m, 1))], axis=2)
    a_ub[~mask] = 0.0  # padding rows impose nothing (0 <= 0)
    a_eq = np.concatenate([mask[:, None, :].astype(float), np.zeros((n, 1, 1))], axis=2)
    lower = np.zeros((n, m + 1))
    lower[:, -1] = -1.0
    upper = np.concatenate([mask.astype(float), np.ones((n, 1))], axis=1)
    z = block_linprog(c, a_ub, np.zeros((n, m)), a_eq, np.ones((n, 1)), lower, upper, chunk_size)
    return _clean(z[:, :m], mask)


def maxmin_lp(utilities, active_types, mask, chunk_size=2000):
    """``max_x min_k sum_i x_i u_ki`` over lotteries x, for each prompt (types with ``active_types``).

    Parameters
    ----------
    utilities : ndarray (P, K, M)
    active_types : ndarray (P, K) of bool
        Types that count on each prompt (positive weight).
    mask : ndarray (P, M) of bool

    Returns
    -------
    x : ndarray (P, M)
    value : ndarray (P,)
        The worst type's expected utility under x.
    """
    n, k, m = utilities.shape
    c = np.zeros((n, m + 1))
    c[:, -1] = -1.0
    # t - sum_i x_i u_ki <= 0 for each active type; padding (x_i fixed at 0) may hold NaN
    a_ub = np.concatenate([-np.where(mask[:, None, :], utilities, 0.0), np.ones((n, k, 1))], axis=2)
    a_ub[~active_types] = 0.0
    lower, upper = _bounds(utilities, mask)
    a_eq = np.concatenate([mask[:, None, :].astype(float), np.zeros((n, 1, 1))], axis=2)
    z = block_linprog(c, a_ub, np.zeros((n, k)), a_eq, np.ones((n, 1)), lower, upper, chunk_size)
    return _clean(z[:, :m], mask), z[:, -1]


def minmax_regret_lp(utilities, active_types, mask, chunk_size=2000):
    """``min_x max_k (max_i u_ki - sum_i x_i u_ki)`` over lotteries x, for each prompt.

    Returns
    -------
    x : ndarray (P, M)
    value : ndarray (P,)
        The largest regret of any (active) type under x.
    """
    n, k, m = utilities.shape
    u = np.where(mask[:, None, :], utilities, -np.inf)
    best = u.max(axis=2)
    c = np.zeros((n, m + 1))
    c[:, -1] = 1.0
    # best_k - sum_i x_i u_ki - s <= 0
    a_ub = np.concatenate([-np.where(mask[:, None, :], utilities, 0.0), -np.ones((n, k, 1))], axis=2)
    b_ub = -best
    a_ub[~active_types] = 0.0
    b_ub = np.where(active_types, b_ub, 0.0)
    lower, upper = _bounds(utilities, mask)
    a_eq = np.concatenate([mask[:, None, :].astype(float), np.zeros((n, 1, 1))], axis=2)
    z = block_linprog(c, a_ub, b_ub, a_eq, np.ones((n, 1)), lower, upper, chunk_size)
    return _clean(z[:, :m], mask), z[:, -1]


def _bounds(utilities, mask):
    n, _, m = utilities.shape
    if not np.isfinite(np.where(mask[:, None, :], utilities, 0.0)).all():
        raise DataError("utilities: expected finite numbers at every real candidate")
    span = float(np.abs(np.where(mask[:, None, :], utilities, 0.0)).max()) + 1.0
    lower = np.concatenate([np.zeros((n, m)), np.full((n, 1), -2 * span)], axis=1)
    upper = np.concatenate([mask.astype(float), np.full((n, 1), 2 * span)], axis=1)
    return lower, upper

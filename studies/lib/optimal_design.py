"""How few labels could any choice of questions need? A bound from optimal design at the truth.

For a mixture of Bradley-Terry types with linear rewards whose types are known, a label on
the pair ``(a, b)`` asked of an annotator of type k adds ``p (1 - p) dx dx^T`` to type k's
Fisher information (``dx = phi_a - phi_b``, ``p`` the true answer probability). Fitted from
``n`` labels drawn with design weights ``w`` over the pool, the expected excess held-out
log-loss is asymptotically ``sum_k tr(F_k M_k(w)^-1) / (2 n)``, with ``F_k`` the Fisher
information of the test rows of type k and ``M_k(w)`` the design's. Random questions use
``w`` uniform; the best design minimises ``sum_k tr(F_k M_k(w)^-1)`` (I-optimality, a
convex problem). To reach the held-out loss that random reaches with ``n`` labels, the best
design needs ``n * crit(w*) / crit(uniform)`` labels: no objective can need fewer in this
asymptotic, locally optimal sense (it would have to know the true parameters and types,
and asks the first labels at random).

The optimum is found with the multiplicative algorithm ``w <- w g^(1/2)`` (Silvey,
Titterington and Torsney 1978), where ``g_i = p_i (1 - p_i) dx_i^T M^-1 F M^-1 dx_i`` is the
criterion's sensitivity; by the equivalence theorem ``max_i g_i = crit(w)`` exactly at the
optimum, and by convexity ``crit* >= crit(w) - (max_i g_i - crit(w))``, so with the gap
``max_i g_i / crit - 1`` the ratio times ``1 - gap`` is a certified lower bound. Written by hand: scipy has
no optimal-design solver and a generic optimiser over 10^4 weights is far slower.

Examples
--------
>>> import numpy as np
>>> from optimal_design import optimal_design_ratio
>>> rng = np.random.default_rng(0)
>>> dx = rng.standard_normal((200, 3)); w = np.full(200, 0.2); t = np.zeros(200, dtype=int)
>>> ratio, gap = optimal_design_ratio(dx, w, t, dx, w, t)
>>> bool(0 < ratio <= 1), bool(gap < 1e-2)
(True, True)
"""

from __future__ import annotations

import numpy as np


def _type_rows(dx, info, types, n_types):
    """Per type: its rows' feature differences and their ``p (1 - p)``."""
    return [(dx[types == k], info[types == k]) for k in range(n_types)]


def _information(rows, weight):
    """``sum_n weight_n info_n dx_n dx_n^T`` of one type's rows (a BLAS product, not an einsum)."""
    dx, info = rows
    return (dx * (weight * info)[:, None]).T @ dx


def optimal_design_ratio(dx_pool, info_pool, type_pool, dx_test, info_test, type_test, max_iter=20000, tol=1e-2):
    """(ratio, gap): the I-optimal design's criterion over the uniform design's, and its equivalence gap.

    ``dx_*`` (n, d): feature differences; ``info_*`` (n,): ``p (1 - p)`` at the truth;
    ``type_*`` (n,): the asked annotator's true type. Stops when ``max g / crit - 1 < tol``.
    """
    K = int(max(type_pool.max(), type_test.max())) + 1
    test = _type_rows(dx_test, info_test, type_test, K)
    F = [_information(rows, np.full(len(rows[1]), 1.0 / len(dx_test))) for rows in test]
    pool = _type_rows(dx_pool, info_pool, type_pool, K)
    where = [np.flatnonzero(type_pool == k) for k in range(K)]
    ridge = 1e-12 * np.eye(dx_pool.shape[1])

    def crit_and_sensitivity(w):
        crit, g = 0.0, np.zeros(len(w))
        for k, (dx, info) in enumerate(pool):
            inv = np.linalg.inv(_information((dx, info), w[where[k]]) + ridge)
            crit += float(np.trace(F[k] @ inv))
            g[where[k]] = info * ((dx @ (inv @ F[k] @ inv)) * dx).sum(1)
        return crit, g

    w = np.full(len(dx_pool), 1.0 / len(dx_pool))
    uniform, g = crit_and_sensitivity(w)
    crit, gap = uniform, g.max() / uniform - 1
    for _ in range(int(max_iter)):
        if gap < tol:
            break
        w = w * np.sqrt(g)
        w /= w.sum()
        crit, g = crit_and_sensitivity(w)
        gap = g.max() / crit - 1
    return crit / uniform, float(gap)


def population_design_ratio(population, pool, test):
    """For a synthetic population's ``pool`` and ``test`` comparisons: ``{"ratio", "certified_lower", "gap"}``.

    ``ratio``: the best design's labels as a fraction of random's (asymptotic, at the truth);
    ``certified_lower``: a lower bound of it that holds whatever the solver's tolerance.
    """
    X = np.asarray(population.features.embeddings, dtype=np.float64)
    types = population.truth.annotator_types.to_numpy()
    rewards = population.truth.rewards

    def parts(data):
        a = data.arrays
        t = types[a.annotator]
        p = 1.0 / (1.0 + np.exp(-(rewards[t, a.a] - rewards[t, a.b])))
        return X[a.a] - X[a.b], p * (1 - p), t

    ratio, gap = optimal_design_ratio(*parts(pool), *parts(test))
    return {"ratio": ratio, "certified_lower": ratio * (1 - gap), "gap": gap}

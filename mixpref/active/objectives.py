"""Acquisition objectives, vectorised over the pool (in chunks) and the posterior draws.

Each answer is binary (ties are not modelled here): ``p = sigmoid(r(a) - r(b))`` under a
hypothesis about the annotator and a draw of the rewards. With ``Hb`` the binary entropy
(nats) and ``P_s`` a row's answer probability in draw s (mixed over its hypotheses):

* ``type``: ``I(y; h) = Hb(sum_h pi_h pbar_h) - sum_h pi_h Hb(pbar_h)`` (``pbar_h``: mean
  over draws), the expected information gain about the annotator's type or weights;
* ``reward`` (BALD): ``I(y; draw) = Hb(mean_s P_s) - mean_s Hb(P_s)``;
* ``decision``: ``I(y; o) = Hb(mean_s P_s) - sum_c f_c Hb(mean_{s: o_s = c} P_s)`` with o_s
  the rule's outcome (Smith set proxy, :mod:`.outcomes`) for the row's prompt in draw s:
  how much the answer tells about what the rule will choose;
* ``uncertainty``: ``Hb(mean_s P_s)``; ``random``: uniform noise.

Examples
--------
>>> import numpy as np
>>> from mixpref.active.objectives import binary_entropy
>>> float(np.round(binary_entropy(np.array([0.5]))[0], 4))  # log 2
0.6931
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

OBJECTIVES = ("type", "reward", "decision", "uncertainty", "random")
NEEDS_DRAWS = ("reward", "decision")
_CHUNK_ELEMENTS = 4_000_000


def binary_entropy(p):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -(p * np.log(p) + (1 - p) * np.log1p(-p))


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _hyp_probs(belief, ia, ib):
    d = belief.basis[:, :, ia] - belief.basis[:, :, ib]  # (S, K, C)
    H, K = belief.hypotheses.shape
    if H == K and np.array_equal(belief.hypotheses, np.eye(K)):
        return _sigmoid(d)
    return _sigmoid(np.einsum("hk,skc->shc", belief.hypotheses, d))


def _decision(P, codes):
    """I(y; o) per row from answer probabilities P (S, C) and outcome codes (S, C)."""
    S, C = P.shape
    n_cls = int(codes.max()) + 1
    flat = (np.arange(C)[None, :] * n_cls + codes).ravel()
    sums = np.bincount(flat, weights=P.ravel(), minlength=C * n_cls).reshape(C, n_cls)
    counts = np.bincount(flat, minlength=C * n_cls).reshape(C, n_cls)
    cond = np.where(counts > 0, sums / np.maximum(counts, 1), 0.5)
    h_cond = (counts / S * binary_entropy(cond)).sum(axis=1)
    return binary_entropy(P.mean(axis=0)) - h_cond


def score_pool(objective, belief, pool, outcome_codes=None, random_state=0):
    """Single-pair scores (P,) of ``objective`` for every candidate of ``pool``."""
    if objective not in OBJECTIVES:
        raise DataError(f"objective: got {objective!r}, expected one of {OBJECTIVES}")
    P = len(pool)
    if objective == "random":
        return np.random.default_rng(random_state).random(P)
    S, H = belief.basis.shape[0], belief.hypotheses.shape[0]
    step = max(64, _CHUNK_ELEMENTS // max(1, S * H))
    out = np.empty(P)
    for lo in range(0, P, step):
        sl = slice(lo, min(P, lo + step))
        p = _hyp_probs(belief, pool.ia[sl], pool.ib[sl])  # (S, H, C)
        mix = belief.mix[sl].T  # (H, C)
        if objective == "type":
            pbar = p.mean(axis=0)
            out[sl] = binary_entropy((mix * pbar).sum(axis=0)) - (mix * binary_entropy(pbar)).sum(axis=0)
            continue
        Ps = np.einsum("shc,hc->sc", p, mix)
        marginal = binary_entropy(Ps.mean(axis=0))
        if objective == "uncertainty":
            out[sl] = marginal
        elif objective == "reward":
            out[sl] = marginal - binary_entropy(Ps).mean(axis=0)
        else:
            out[sl] = _decision(Ps, outcome_codes[:, pool.prompt_code[sl]])
    return np.maximum(out, 0.0) if objective != "uncertainty" else out

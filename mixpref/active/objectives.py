"""Acquisition objectives, vectorised over the pool (in chunks) and the posterior draws.

Each answer is binary (ties are not modelled here): ``p = sigmoid(r(a) - r(b))`` under a
hypothesis about the annotator and a draw of the rewards. With ``Hb`` the binary entropy
(nats) and ``P_s`` a row's answer probability in draw s (mixed over its hypotheses):

* ``type``: ``I(y; h) = Hb(sum_h pi_h p_h) - sum_h pi_h Hb(p_h)`` with ``p_h`` under the
  point estimate of the rewards: the expected information gain about the annotator's type
  or weights (the population held fixed, as ``adapt`` holds it);
* ``reward`` (BALD): the mutual information between the answer and the model's unknowns:
  ``I(y; draw, h) = Hb(mean_s P_s) - mean_s sum_h pi_h Hb(p_sh)``. The row's hypothesis h
  (its annotator's type) is an unknown of the model like the rewards, not noise: every
  answer of that annotator shares it, so an answer that settles it is informative. (Treating
  it as noise, ``Hb(mean_s P_s) - mean_s Hb(P_s)``, scores only the rewards' disagreement
  and, on a mixture whose annotators' types are still uncertain, asks what teaches least.)
  With types drawn per answer (``level="observation"``) h is noise and the second form is
  used; a single model has one hypothesis and the two agree;
* ``decision``: ``I(y; o) = Hb(mean_s P_s) - sum_c f_c Hb(mean_{s: o_s = c} P_s)`` with o_s
  the rule's outcome (Smith set proxy, :mod:`.outcomes`) for the row's prompt in draw s:
  how much the answer tells about what the rule will choose;
* ``prediction`` (EPIG): ``I(y; y*)`` with ``y*`` the answer to a target comparison sampled
  from the pool, averaged over targets: what the answer tells about the answers the model
  will be asked to predict (:mod:`.prediction`);
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
from .prediction import epig, targets_of

OBJECTIVES = ("type", "reward", "decision", "prediction", "uncertainty", "random")
NEEDS_DRAWS = ("reward", "decision", "prediction")
_CHUNK_ELEMENTS = 4_000_000
FLOAT32_ABOVE = 1_000_000


def binary_entropy(p):
    eps = 1e-12 if p.dtype == np.float64 else 1e-6
    p = np.clip(p, eps, 1 - eps)
    return -(p * np.log(p) + (1 - p) * np.log1p(-p))


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _hyp_probs(rows, hypotheses, ia, ib):
    """(C, S, H) answer probabilities; ``rows`` is the (n, S, K) basis, rows contiguous so that
    gathering the pairs' responses copies whole rows (a gather on the last axis was 10x slower)."""
    d = rows[ia] - rows[ib]  # (C, S, K)
    H, K = hypotheses.shape
    if H == K and np.array_equal(hypotheses, np.eye(K)):
        return _sigmoid(d)
    return _sigmoid(np.einsum("csk,hk->csh", d, hypotheses.astype(d.dtype)))


def _decision(P, codes):
    """I(y; o) per row from answer probabilities P (S, C) and outcome codes (S, C)."""
    S = P.shape[0]
    h_cond = np.zeros(P.shape[1])
    # a prompt has a handful of distinct outcomes: loop over outcome codes, not rows
    for c in range(int(codes.max()) + 1):
        hit = codes == c
        n_c = np.count_nonzero(hit, axis=0)
        mean_c = ((P * hit).sum(axis=0) / np.maximum(n_c, 1)).astype(np.float64)
        h_cond += np.where(n_c > 0, n_c / S * binary_entropy(mean_c), 0.0)
    return binary_entropy(P.mean(axis=0, dtype=np.float64)) - h_cond


def score_pool(objective, belief, pool, outcome_codes=None, random_state=0, annotator_codes=None):
    """Single-pair scores (P,) of ``objective`` for every candidate of ``pool``.

    ``annotator_codes`` (P,): whom each row is asked (< 0: nobody in particular); the
    ``prediction`` objective counts a shared annotator's type as shared by their answers.
    """
    if objective not in OBJECTIVES:
        raise DataError(f"objective: got {objective!r}, expected one of {OBJECTIVES}")
    P = len(pool)
    if objective == "random":
        return np.random.default_rng(random_state).random(P)
    # the type objective reads the point estimate (EIG about the person given the population)
    basis = belief.point if objective == "type" else belief.basis
    S, H = basis.shape[0], belief.hypotheses.shape[0]
    # a large pool with many draws: float32 halves the memory traffic (answer probabilities to
    # ~1e-7); entropies of the averages are taken in float64
    dtype = np.float32 if S * P >= FLOAT32_ABOVE else np.float64
    rows = np.ascontiguousarray(np.transpose(basis, (2, 0, 1)), dtype=dtype)  # (n, S, K)
    step = max(64, _CHUNK_ELEMENTS // max(1, S * H))
    out = np.zeros(P)
    todo = np.arange(P)
    if objective == "decision":
        # a prompt whose outcome is the same in every draw has nothing left to learn: I(y; o) = 0
        todo = np.flatnonzero(outcome_codes.max(axis=0)[pool.prompt_code] > 0)
    if objective == "prediction":
        targets = targets_of(P, random_state=random_state)
        q_rows = _hyp_probs(rows, belief.hypotheses, pool.ia[targets], pool.ib[targets])
        codes = None if annotator_codes is None or belief.per_answer_types else np.asarray(annotator_codes)
        # the (C, T) joint tables are the large temporaries here
        step = max(64, _CHUNK_ELEMENTS // (8 * len(targets)))
    for lo in range(0, len(todo), step):
        sl = todo[lo:lo + step]
        p = _hyp_probs(rows, belief.hypotheses, pool.ia[sl], pool.ib[sl])  # (C, S, H)
        mix = belief.mix[sl].astype(dtype)  # (C, H)
        if objective == "type":
            pbar = p[:, 0].astype(np.float64)
            mix = belief.mix[sl]
            out[sl] = binary_entropy((mix * pbar).sum(axis=1)) - (mix * binary_entropy(pbar)).sum(axis=1)
            continue
        if objective == "prediction":
            out[sl] = epig(p, belief.mix[sl], q_rows, belief.mix[targets],
                           None if codes is None else codes[sl], None if codes is None else codes[targets])
            continue
        Ps = np.einsum("csh,ch->cs", p, mix)  # (C, S)
        marginal = binary_entropy(Ps.mean(axis=1, dtype=np.float64))
        if objective == "uncertainty":
            out[sl] = marginal
        elif objective == "reward" and belief.per_answer_types:
            out[sl] = marginal - binary_entropy(Ps).mean(axis=1, dtype=np.float64)
        elif objective == "reward":
            cond = np.einsum("csh,ch->cs", binary_entropy(p), mix)  # E_h Hb(p_sh) per draw
            out[sl] = marginal - cond.mean(axis=1, dtype=np.float64)
        else:
            out[sl] = _decision(Ps.T, outcome_codes[:, pool.prompt_code[sl]])
    return np.maximum(out, 0.0) if objective != "uncertainty" else out

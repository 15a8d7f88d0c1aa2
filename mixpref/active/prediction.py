"""Expected predictive information gain (EPIG): what an answer tells about answers to come.

BALD (the ``reward`` objective) values an answer by what it teaches about the model's
unknowns, wherever they are; with few labels and many unknowns it chases the unknowns that
matter least for prediction (pairs the types disagree on most, a few annotators, the same
pairs again; see the active-learning study's selection profile). EPIG (Bickford Smith,
Kirsch, Farquhar, Gal, Rainforth and Foster, AISTATS 2023) values it by the mutual
information between its answer ``y`` and the answer ``y*`` to a *target* comparison drawn
from the distribution one wants to predict, averaged over targets::

    EPIG(x) = E_{x*} I(y; y* | x, x*) = Hb(p) + E_{x*} Hb(q*) - E_{x*} H(y, y*)

with the joint ``p(y, y*) = E_theta[p(y | theta) p(y* | theta)]`` over the posterior draws.
The targets here are a random sample of the pool itself (the pool is the distribution of
comparisons the model will be asked to predict). Each answer is binary, so the joint is a
2 x 2 table whose (1, 1) cell, for all candidates against all targets, is one matrix
product of the draws' answer probabilities.

The asking annotator's type (or weight atom) is an unknown shared by all their answers: a
candidate and a target of the same annotator are dependent also through it, so for those
pairs the (1, 1) cell is ``E_s sum_h pi_h p(y | s, h) p(y* | s, h)`` rather than the
product of the two mixed probabilities. Written by hand because no maintained package
computes EPIG for a given set of posterior draws.

Examples
--------
>>> import numpy as np
>>> from mixpref.active.prediction import joint_entropy
>>> float(np.round(joint_entropy(np.array([[0.25]]), np.array([0.5]), np.array([0.5]))[0, 0], 4))  # 2 log 2
1.3863
"""

from __future__ import annotations

import numpy as np

N_TARGETS = 512


def _xlogx(p):
    p = np.clip(p, 1e-12, 1.0)
    return p * np.log(p)


def joint_entropy(j11, p, q):
    """Entropy (nats) of the 2 x 2 tables with cell (1, 1) ``j11`` (C, T) and marginals ``p`` (C,), ``q`` (T,)."""
    p, q = p[:, None], q[None, :]
    return -(_xlogx(j11) + _xlogx(p - j11) + _xlogx(q - j11) + _xlogx(1.0 - p - q + j11))


def targets_of(n_pool, n_targets=N_TARGETS, random_state=0):
    """Rows of the pool that stand for the comparisons to be predicted (a seeded sample)."""
    n = min(int(n_pool), int(n_targets))
    return np.sort(np.random.default_rng(random_state).choice(int(n_pool), size=n, replace=False))


def epig(p_rows, mix_rows, q_rows, mix_targets, cand_codes=None, target_codes=None):
    """EPIG (nats) of each candidate.

    ``p_rows`` (C, S, H) and ``q_rows`` (T, S, H): answer probabilities of the candidates and
    the targets under each draw and hypothesis; ``mix_rows`` (C, H), ``mix_targets`` (T, H):
    their posteriors over hypotheses. ``cand_codes`` (C,), ``target_codes`` (T,): the
    annotator of each row (< 0: none that persists); a candidate and a target of the same
    annotator share its hypothesis.
    """
    S = p_rows.shape[1]
    P = np.einsum("csh,ch->cs", p_rows, mix_rows.astype(p_rows.dtype))
    Q = np.einsum("tsh,th->ts", q_rows, mix_targets.astype(q_rows.dtype))
    p, q = P.mean(axis=1, dtype=np.float64), Q.mean(axis=1, dtype=np.float64)
    j11 = (P @ Q.T).astype(np.float64) / S
    if cand_codes is not None and target_codes is not None:
        for g in np.intersect1d(cand_codes[cand_codes >= 0], target_codes):
            ci, ti = np.flatnonzero(cand_codes == g), np.flatnonzero(target_codes == g)
            # one annotator, one posterior over hypotheses: weight the candidate side by it
            a = (p_rows[ci] * mix_rows[ci[0]].astype(p_rows.dtype)).reshape(len(ci), -1)
            j11[np.ix_(ci, ti)] = (a @ q_rows[ti].reshape(len(ti), -1).T).astype(np.float64) / S
    return _hb(p) + _hb(q).mean() - joint_entropy(j11, p, q).mean(axis=1)


def _hb(p):
    # not objectives.binary_entropy: the marginals' entropies must clip as joint_entropy does, so that
    # EPIG is 0 (to rounding) when the two answers are independent
    return -(_xlogx(p) + _xlogx(1.0 - p))

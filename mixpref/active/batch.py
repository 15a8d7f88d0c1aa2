"""Choosing a batch: greedy with diminishing returns per prompt and no near-duplicate pairs.

The top-n of single-pair scores tends to ask the same thing n times (the most uncertain
pair and its mirror images). As BAL-PM spreads its batch over the prompt space, the greedy
batch here takes the best remaining pair, then discounts every other pair of the same
prompt by ``decay`` per pair already taken there (diminishing returns of asking one prompt
again), and drops every pair, for the same annotator, whose feature difference
``phi_a - phi_b`` has absolute cosine >= ``duplicate_cosine`` with a chosen one (the same
pair either way round, or a near-copy). Jointly optimal batches (BatchBALD) cost a
combinatorial search; this heuristic is linear in the pool per pick.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

BATCHES = ("greedy", "top")


def _diff_norms(emb, ia, ib, step=65536):
    sq = np.einsum("nd,nd->n", emb, emb)
    out = np.empty(len(ia))
    for lo in range(0, len(ia), step):
        a, b = ia[lo:lo + step], ib[lo:lo + step]
        out[lo:lo + step] = sq[a] + sq[b] - 2 * np.einsum("pd,pd->p", emb[a], emb[b])
    return np.sqrt(np.maximum(out, 1e-24))


def select(scores, pool, features, n, batch="greedy", annotator_codes=None, decay=0.5, duplicate_cosine=0.98,
           diminish=True):
    """Indices of the chosen rows of ``pool``, best first."""
    if batch not in BATCHES:
        raise DataError(f"batch: got {batch!r}, expected one of {BATCHES}")
    if batch == "top":
        return np.argsort(-scores, kind="stable")[:n]
    emb = np.asarray(features.embeddings, dtype=np.float64)
    norms = _diff_norms(emb, pool.ia, pool.ib)
    ann = np.zeros(len(pool), dtype=np.int64) if annotator_codes is None else annotator_codes
    alive = np.ones(len(pool), dtype=bool)
    taken = np.zeros(len(pool.prompts), dtype=np.int64)
    base = np.asarray(scores, dtype=np.float64)
    chosen = []
    for _ in range(n):
        adjusted = base * decay ** taken[pool.prompt_code] if diminish else base
        adjusted = np.where(alive, adjusted, -np.inf)
        i = int(np.argmax(adjusted))
        if not np.isfinite(adjusted[i]):
            break
        chosen.append(i)
        taken[pool.prompt_code[i]] += 1
        v = emb[pool.ia[i]] - emb[pool.ib[i]]
        proj = emb @ v
        cos = (proj[pool.ia] - proj[pool.ib]) / (norms * norms[i])
        alive &= ~((np.abs(cos) >= duplicate_cosine) & (ann == ann[i]))
        alive[i] = False
    return np.asarray(chosen, dtype=np.int64)

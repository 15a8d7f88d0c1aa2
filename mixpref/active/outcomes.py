"""The rule's outcome in each posterior draw, cheaply: the Smith set of the majority margins.

The decision objective needs, for every posterior draw and prompt, what the aggregation
rule would do. Solving the maximal-lottery LP for every draw and prompt is too slow inside
an acquisition loop, so each draw's outcome is the **Smith set** (the smallest set of
candidates each beating or tying everyone outside it, by the population's weighted
majority margins). The maximal lottery's support always lies inside the Smith set and
equals it whenever the Smith set has at most three candidates (a Condorcet winner, or a
three-cycle, where the maximal lottery mixes all three), so on prompts with few
candidates the proxy is exact. It is computed for all draws and prompts at once by a
boolean transitive closure (repeated squaring).

Examples
--------
>>> import numpy as np
>>> from mixpref.active.outcomes import smith_sets
>>> cyc = np.array([[0., 1, -1], [-1, 0, 1], [1, -1, 0]])     # A>B, B>C, C>A
>>> win = np.array([[0., 1, 1], [-1, 0, 1], [-1, -1, 0]])     # A beats everyone
>>> smith_sets(np.stack([cyc, win])[:, None], np.ones((1, 3), bool))[:, 0].astype(int).tolist()
[[1, 1, 1], [1, 0, 0]]
"""

from __future__ import annotations

import numpy as np


def smith_sets(margins, mask, tol=1e-9):
    """Smith set membership (..., G, M) from margins (..., G, M, M) (``mask`` (G, M): real candidates)."""
    M = margins.shape[-1]
    valid_j = mask[..., None, :]
    rel = (margins >= -tol) | ~valid_j | np.eye(M, dtype=bool)
    steps = max(1, int(np.ceil(np.log2(max(M, 2)))))
    for _ in range(steps):
        # boolean closure by squaring: i reaches j in <= 2^t steps of "beats or ties"
        rel = rel | (np.matmul(rel.astype(np.float32), rel.astype(np.float32)) > 0)
    return rel.all(axis=-1) & mask


def voter_margins(belief, cand_rows, cand_mask):
    """Weighted-majority margins (S, G, M, M) of the population's voters for each prompt's candidates."""
    V = len(belief.voter_weights)
    # (S, V, n) -> rewards of candidates (S, V, G, M)
    r = np.einsum("vk,skn->svn", belief.hypotheses[:V], belief.basis)[:, :, cand_rows].astype(np.float32)
    # P(i > j) - P(j > i) = tanh((r_i - r_j) / 2); float32 is ample for a sign
    pref = np.tanh(0.5 * (r[..., :, None] - r[..., None, :]))
    if belief.voter_draws is not None:
        # each draw's own type weights (the posterior's uncertainty about who is the majority)
        margins = np.einsum("sv,svgij->sgij", belief.voter_draws.astype(np.float32), pref)
    else:
        margins = np.tensordot(belief.voter_weights.astype(np.float32), pref, axes=([0], [1]))
    return np.where(cand_mask[None, :, :, None] & cand_mask[None, :, None, :], margins, 0.0)


def prompt_candidates(pool):
    """(G, M) feature rows of each prompt's candidates (padded with 0) and the (G, M) mask."""
    G = len(pool.prompts)
    M = max(len(v) for v in pool.candidates.values())
    rows = np.zeros((G, M), dtype=np.int64)
    mask = np.zeros((G, M), dtype=bool)
    for g, cand in pool.candidates.items():
        rows[g, : len(cand)] = cand
        mask[g, : len(cand)] = True
    return rows, mask


def outcome_codes(belief, pool):
    """(S, G) integer code of each draw's outcome per prompt (equal codes: the same Smith set), and the sets."""
    rows, mask = prompt_candidates(pool)
    smith = smith_sets(voter_margins(belief, rows, mask), mask)  # (S, G, M)
    codes = np.zeros(smith.shape[:2], dtype=np.int64)
    for g in range(smith.shape[1]):
        # a handful of distinct sets per prompt: unique rows give dense codes per prompt
        _, inv = np.unique(smith[:, g, :], axis=0, return_inverse=True)
        codes[:, g] = inv.reshape(-1)
    return codes, smith

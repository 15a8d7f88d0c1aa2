"""Batched majority-relation graph facts: Condorcet winners, Smith sets, cycles, Pareto dominance.

All functions take the profile's arrays for all prompts at once (numpy, no Python loop over
prompts). The weighted majority relation is ``Profile.majority()``: +1 where i beats j.
"""

from __future__ import annotations

import numpy as np

from .profile import MARGIN_TOL


def transitive_closure(adj):
    """Reachability (paths of length >= 1) of a batch of digraphs, (P, M, M) bool (Warshall)."""
    reach = adj.astype(bool).copy()
    for k in range(reach.shape[1]):
        reach |= reach[:, :, k : k + 1] & reach[:, k : k + 1, :]
    return reach


def condorcet_winner(relation, mask):
    """Index of each prompt's Condorcet winner (beats every other real candidate), -1 if none.

    Parameters
    ----------
    relation : ndarray (P, M, M) int
        +1 where i beats j (e.g. ``profile.majority()``).
    mask : ndarray (P, M) bool

    Returns
    -------
    ndarray (P,) int

    Examples
    --------
    >>> import numpy as np
    >>> rel = np.array([[[0, 1, 1], [-1, 0, 1], [-1, -1, 0]]])
    >>> condorcet_winner(rel, np.ones((1, 3), bool)).tolist()
    [0]
    """
    m = mask.shape[1]
    beats = (relation > 0) | ~mask[:, None, :] | np.eye(m, dtype=bool)[None]
    is_cw = beats.all(axis=2) & mask
    return np.where(is_cw.any(axis=1), is_cw.argmax(axis=1), -1)


def smith_set(relation, mask):
    """Smith set (top cycle) of each prompt's majority relation, (P, M) bool.

    The smallest nonempty set of candidates that each beat every candidate outside it:
    the candidates from which every other one is reachable along "beats or ties" edges.
    It is the Condorcet winner alone when one exists.
    """
    m = mask.shape[1]
    weak = (relation >= 0) & mask[:, :, None] & mask[:, None, :]
    reach = transitive_closure(weak) | np.eye(m, dtype=bool)[None]
    return (reach | ~mask[:, None, :]).all(axis=2) & mask


def has_cycle(relation, mask):
    """Whether each prompt's strict majority relation has a cycle (a beats b beats ... beats a), (P,)."""
    strict = (relation > 0) & mask[:, :, None] & mask[:, None, :]
    reach = transitive_closure(strict)
    return np.diagonal(reach, axis1=1, axis2=2).any(axis=1)


def pareto_dominated(matrices, weights, mask):
    """Candidates Pareto-dominated by another candidate of the same prompt, (P, M) bool.

    j dominates i when every type with positive weight prefers j to i at least weakly
    (``P_k(j beats i) >= P_k(i beats j)``) and at least one strictly.
    """
    d = matrices - np.swapaxes(matrices, -1, -2)  # d[p, k, j, i] > 0: type k prefers j to i
    active = (weights > 0)[:, :, None, None]
    weakly = np.where(active, d >= -MARGIN_TOL, True).all(axis=1)
    strictly = np.where(active, d > MARGIN_TOL, False).any(axis=1)
    pair = mask[:, :, None] & mask[:, None, :]
    dom = weakly & strictly & pair  # dom[p, j, i]: j dominates i
    return dom.any(axis=1) & mask

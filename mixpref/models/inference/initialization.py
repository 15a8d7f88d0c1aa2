"""Data-driven starts for mixtures: annotators' score vectors, k-means on their leading components.

Each annotator's score vector (the gradient of their log-likelihood at the pooled single-type
fit, in embedding space) points towards their type's reward; k-means on its leading
principal components gives initial responsibilities.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import _engine as E


def group_score_vectors(spec: E.Spec, params: dict, problem: E.Problem) -> torch.Tensor:
    """(n_groups, d): each group's gradient of its log-likelihood w.r.t. a linear reward, at ``params``.

    Computed from per-slot reward gradients (one autograd pass) and one sparse product, never
    an n_obs x d matrix.
    """
    with torch.no_grad():
        r = E.rewards(spec, params, problem.phi, problem.logp_ref)[:, :1]
    rows, cols, vals = [], [], []
    single = {"tie": params["tie"][:1]} if "tie" in params else {}
    if problem.n_comparisons:
        d = (r[problem.a] - r[problem.b]).clone().requires_grad_(True)
        (g_d,) = torch.autograd.grad(E.pair_loglik(spec, single, d, problem).sum(), [d])
        g = problem.group[: problem.n_comparisons]
        rows += [g, g]
        cols += [problem.a, problem.b]
        vals += [g_d[:, 0], -g_d[:, 0]]
    if problem.rank_items is not None and problem.n_rankings:
        slots = r[problem.rank_safe].clone().requires_grad_(True)  # (R, L, 1)
        (gs,) = torch.autograd.grad(E.ranking_loglik_slots(slots, problem.rank_valid).sum(), [slots])
        gr = problem.group[problem.n_comparisons:]
        valid = problem.rank_valid
        rows.append(gr[:, None].expand_as(problem.rank_safe)[valid])
        cols.append(problem.rank_safe[valid])
        vals.append(gs[..., 0][valid])
    if not rows:
        return problem.phi.new_zeros((problem.n_groups, problem.phi.shape[1]))
    idx = torch.stack([torch.cat(rows), torch.cat(cols)])
    mat = torch.sparse_coo_tensor(idx, torch.cat(vals).detach(), (problem.n_groups, problem.n_responses),
                                  check_invariants=False).coalesce()
    return torch.sparse.mm(mat, problem.phi)


def kmeans_init(scores: torch.Tensor, sizes: torch.Tensor, K: int, seed: int) -> np.ndarray:
    """Initial hard assignment of groups to K types from their score vectors."""
    from sklearn.cluster import KMeans

    s = scores.detach().double().cpu().numpy()
    n = sizes.detach().double().cpu().numpy().clip(min=1.0)
    s = s / np.sqrt(n)[:, None]  # equalise noise across groups of different sizes
    s = s - s.mean(axis=0, keepdims=True)
    n_comp = min(K, s.shape[1], max(s.shape[0] - 1, 1))
    try:
        u, sv, _ = np.linalg.svd(s, full_matrices=False)
        z = u[:, :n_comp] * sv[:n_comp]
    except np.linalg.LinAlgError:
        z = s
    km = KMeans(n_clusters=K, n_init=4, random_state=seed).fit(z)
    return km.labels_


def same_partition(a, b) -> bool:
    """Whether two labelings define the same partition (up to renaming the labels)."""
    pairs = np.unique(np.stack([a, b], axis=1), axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


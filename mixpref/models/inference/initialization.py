"""Data-driven starts for mixtures: annotators' score vectors, k-means on their leading components.

Each annotator's score vector (the gradient of their log-likelihood at the pooled single-type
fit, in embedding space) points towards their type's reward; k-means on its leading
principal components gives initial responsibilities.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .. import _engine as E


def group_score_vectors(spec: E.Spec, params: dict, problem: E.Problem) -> torch.Tensor:
    """(n_groups, d): each group's gradient of its log-likelihood w.r.t. a linear reward, at ``params``.

    Computed from per-comparison (and per-slot) reward gradients and the features read block
    by block (:class:`~mixpref.models._rows.RowSource`), never an n_obs x d matrix.
    """
    single = {"tie": params["tie"][:1]} if "tie" in params else {}
    out = torch.zeros((problem.n_groups, problem.dim), dtype=problem.dtype, device=problem.device)
    nc = problem.n_comparisons
    if nc:
        with torch.no_grad():
            if problem.formulation == "diff" and spec.reward == "linear":
                d = E.diff_rewards(spec, params, problem)[:, :1]
            else:
                r = E.rewards(spec, params, problem.phi, problem.logp_ref)[:, :1]
                d = r[problem.a] - r[problem.b]
        d = d.clone().requires_grad_(True)
        (g_d,) = torch.autograd.grad(E.pair_loglik(spec, single, d, problem).sum(), [d])
        group = problem.group[:nc]
        if isinstance(problem.diff, torch.Tensor):
            out += _scatter(problem.diff, group, g_d[:, 0], problem.n_groups)
        else:
            out += problem.comparison_source().scatter(group, g_d[:, 0], problem.n_groups)
    if problem.rank_items is not None and problem.n_rankings:
        with torch.no_grad():
            r = E.rewards(spec, params, problem.phi, problem.logp_ref)[:, :1]
        slots = r[problem.rank_safe].clone().requires_grad_(True)  # (R, L, 1)
        (gs,) = torch.autograd.grad(E.ranking_loglik_slots(slots, problem.rank_valid).sum(), [slots])
        valid = problem.rank_valid
        groups = problem.group[nc:][:, None].expand_as(problem.rank_safe)[valid]
        rows = problem.rank_safe[valid].cpu().numpy()
        out += problem.response_source(rows).scatter(groups, gs[..., 0][valid], problem.n_groups)
    return out


def _scatter(x, group, weight, n_groups, block=8192):
    # in blocks: a weighted copy of all of x at once would double the fit's peak memory
    out = torch.zeros((n_groups, x.shape[1]), dtype=x.dtype, device=x.device)
    for start in range(0, x.shape[0], block):
        stop = start + block
        out.index_add_(0, group[start:stop], weight[start:stop, None] * x[start:stop])
    return out


def score_components(scores: torch.Tensor, sizes: torch.Tensor, K: int, comm=None, index=None,
                     n_total=None) -> np.ndarray:
    """(n_groups, <=K): the groups' score vectors on their leading principal components.

    The components come from the d x d second-moment matrix (summed over ranks when
    ``comm`` is a distributed communicator; ``index`` places this rank's groups among all
    ``n_total``), so no rank ever holds all groups' d-dimensional scores; every rank gets
    the components of all groups.
    """
    s = scores.detach().double()
    n = sizes.detach().double().clamp(min=1.0).to(s.device)
    s = s / torch.sqrt(n)[:, None]  # equalise noise across groups of different sizes
    total = torch.cat([s.sum(dim=0), s.new_tensor([s.shape[0]])])
    total = total if comm is None else comm.sum_tensor(total)
    s = s - total[:-1] / max(float(total[-1]), 1.0)
    second = s.T @ s
    second = second if comm is None else comm.sum_tensor(second)
    n_comp = min(K, s.shape[1], max(int(total[-1]) - 1, 1))
    _, vecs = torch.linalg.eigh(second)
    z = (s @ vecs.flip(1)[:, :n_comp]).cpu().numpy()
    return z if comm is None else comm.gather_rows(z, index, n_total)


def kmeans_init(z: np.ndarray, K: int, seed: int) -> np.ndarray:
    """Initial hard assignment of groups to K types from their score components (:func:`score_components`).

    scipy's ``kmeans2`` (k-means++ seeding, best of 4): it imports in a fraction of the time
    scikit-learn's KMeans needs on the first fit of a process.
    """
    from scipy.cluster.vq import kmeans2

    rng = np.random.default_rng(seed)
    best, best_inertia = None, np.inf
    for _ in range(4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty cluster is reseeded; a worse start just loses to the others
            centroids, labels = kmeans2(z, K, iter=50, minit="++", seed=rng)
        inertia = float(((z - centroids[labels]) ** 2).sum())
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best


def same_partition(a, b) -> bool:
    """Whether two labelings define the same partition (up to renaming the labels)."""
    pairs = np.unique(np.stack([a, b], axis=1), axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


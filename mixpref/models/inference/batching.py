"""Minibatches: how many annotators per batch a memory budget allows, and objectives on batches."""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import _engine as E


def batch_groups(problem, spec, opts):
    """Annotators per minibatch when the full batch would exceed the memory budget, else None."""
    if opts.get("batch_size"):
        return int(opts["batch_size"])
    budget = opts.get("memory_budget")
    if not budget:
        return None
    bytes_per = 4 if problem.dtype == torch.float32 else 8
    # rough: ~16 live (n_obs, K) tensors in the forward and backward pass
    need = 16 * problem.n_obs * spec.n_types * bytes_per
    if need <= budget:
        return None
    n_batches = int(np.ceil(need / budget))
    return max(1, problem.n_groups // n_batches)


def minibatch_objectives(spec, problem, batch_groups, gen):
    """Objectives on random chunks of groups, scaled to the full data (stochastic MAP)."""
    perm = torch.randperm(problem.n_groups, generator=gen).numpy()
    n_chunks = max(1, math.ceil(problem.n_groups / int(batch_groups)))
    chunks = np.array_split(perm, n_chunks)
    n = max(problem.n_obs, 1)
    objectives = []
    for chunk in chunks:
        sub = problem.subset_groups(chunk)
        scale = problem.n_groups / max(len(chunk), 1)

        def objective(p, sub=sub, scale=scale):
            return E.log_joint(spec, p, _regroup(sub), scale=scale) / n

        objectives.append(objective)
    return objectives


def _regroup(sub):
    # groups of a subset are renumbered densely so that the segment sums stay small
    if getattr(sub, "_regrouped", False):
        return sub
    uniq, inv = np.unique(sub.group_np, return_inverse=True)
    sub.group_np = inv
    sub.group = torch.as_tensor(inv, device=sub.device)
    sub.n_groups = len(uniq)
    sub.level = "annotator"
    sub._regrouped = True
    return sub


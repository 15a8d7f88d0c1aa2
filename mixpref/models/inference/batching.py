"""Minibatches: how many annotators per batch a memory budget allows, and objectives on batches."""

from __future__ import annotations

import math

import numpy as np
import torch

from ...errors import DataError
from .. import _engine as E


def batch_groups(problem, spec, opts):
    """Annotators per minibatch when the full batch would exceed the memory budget, else None.

    The design matrix never counts here: one larger than the budget is streamed in blocks
    (``Problem.stream_bytes``). What must fit is about 16 live (n_obs, K) tensors of the
    forward and backward pass; when they do not, minibatches of whole annotators are used
    (stochastic Adam). A budget too small for one annotator's observations (or for one row
    block of the features) raises :class:`DataError`, on every rank alike when distributed.
    """
    comm = getattr(problem, "comm", None)
    n_groups = problem.n_groups if comm is None else problem.n_groups_total
    budget = opts.get("memory_budget")
    if budget and problem.stream_bytes is None:
        # a design matrix larger than the budget will be streamed from the features, never materialised
        problem.stream_bytes = float(budget)
    bytes_per = 4 if problem.dtype == torch.float32 else 8
    per_obs = 16 * spec.n_types * bytes_per
    # a streamed design matrix keeps resident what the budget leaves after these
    problem.working_bytes = problem.n_obs * per_obs
    # build the design matrix now (or decide to stream it), before any function transform touches it
    _ = problem.diff if problem.formulation == "diff" else problem.phi
    if opts.get("batch_size"):
        return int(opts["batch_size"])
    if not budget:
        return None
    largest = int(problem.group_size.max()) if problem.group_size is not None and problem.n_groups else 0
    row = problem.dim * bytes_per
    need, need_one = problem.n_obs * per_obs, largest * per_obs + 8 * row
    if comm is not None:
        need, need_one = comm.max_int(need), comm.max_int(need_one)
    if need_one > budget:
        raise DataError(
            f"memory_budget: {budget:,.0f} bytes is smaller than one block ({need_one:,} bytes: the largest "
            f"annotator's {largest:,} observations x {spec.n_types} types and one row block of {problem.dim}-d "
            "features); expected a larger memory_budget")
    if need <= budget:
        return None
    n_batches = int(np.ceil(need / budget))
    return max(1, n_groups // n_batches)


def minibatch_objectives(spec, problem, batch_groups, gen):
    """Objectives on random chunks of groups, scaled to the full data (stochastic MAP).

    Distributed: every rank splits its own groups into the same number of chunks; chunk j's
    data terms are summed over ranks and scaled by all groups over the chunk's groups.
    """
    comm = getattr(problem, "comm", None)
    n_groups = problem.n_groups if comm is None else problem.n_groups_total
    # one draw from the fit's generator seeds the permutation: ranks with different numbers of
    # groups must leave ``gen`` in the same state (their starts are drawn from it next)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    perm = torch.randperm(problem.n_groups, generator=torch.Generator().manual_seed(seed)).numpy()
    n_chunks = max(1, math.ceil(n_groups / int(batch_groups)))
    chunks = np.array_split(perm, n_chunks)
    n = max(problem.n_total, 1)
    sizes = np.array([len(c) for c in chunks], dtype=np.float64)
    if comm is not None:
        sizes = comm.sum_array(sizes)
    objectives = []
    for chunk, size in zip(chunks, sizes):
        sub = _regroup(problem.subset_groups(chunk))
        scale = n_groups / max(size, 1.0)
        if comm is not None:
            from ...distributed.objective import reduced_objective

            objectives.append(reduced_objective(spec, sub, n, data_scale=scale))
            continue

        def objective(p, sub=sub, scale=scale):
            return E.log_joint(spec, p, sub, scale=scale) / n

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


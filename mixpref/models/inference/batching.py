"""Minibatches: how many annotators per batch a memory budget allows, objectives on batches (MAP) and
the batches of minibatch SVI (:func:`group_batches`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ...errors import DataError
from .. import _engine as E


def batch_groups(problem, spec, opts):
    """Annotators per minibatch when the full batch would exceed the memory budget, else None.

    The design matrix never counts here: one larger than the budget is streamed in blocks
    (``Problem.stream_bytes``), and of one within it only ``opts["design_cache"]`` bytes stay
    resident (``Problem.design_cache``; the rest is streamed the same way). What must fit is about 16 live (n_obs, K) tensors of the
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
    size = opts.get("batch_size")
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= n_groups:
            raise DataError(
                f"batch_size: got {size!r}, expected an integer from 1 to the number of annotators ({n_groups:,}; "
                "observations without an annotator, or every observation at level='observation', count as one each)")
        return int(size)
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

    Distributed: every rank draws the same permutation of all ranks' groups and keeps, in
    each chunk, the groups it holds; chunk j's data terms are summed over ranks and scaled
    by all groups over the chunk's groups, so the chunks (and the Adam steps) are those of
    a one-process fit.
    """
    comm = getattr(problem, "comm", None)
    n_groups = problem.n_groups if comm is None else problem.n_groups_total
    # one draw from the fit's generator seeds the permutation: ranks with different numbers of
    # groups must leave ``gen`` in the same state (their starts are drawn from it next)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    perm = torch.randperm(n_groups, generator=torch.Generator().manual_seed(seed)).numpy()
    n_chunks = max(1, math.ceil(n_groups / int(batch_groups)))
    chunks = np.array_split(perm, n_chunks)
    n = max(problem.n_total, 1)
    objectives = []
    for chunk in chunks:
        scale = n_groups / max(len(chunk), 1)
        if comm is not None:
            from ...distributed.objective import reduced_objective

            local, _ = _held(problem, chunk)
            objectives.append(reduced_objective(spec, _regroup(problem.subset_groups(local)), n, data_scale=scale))
            continue
        sub = _regroup(problem.subset_groups(chunk))

        def objective(p, sub=sub, scale=scale):
            return E.log_joint(spec, p, sub, scale=scale) / n

        objectives.append(objective)
    return objectives


def _held(problem, chunk):
    """Local group ids of the groups of ``chunk`` (global ids) that this rank holds, in chunk order, and a mask."""
    held = np.arange(problem.n_groups) if getattr(problem, "comm", None) is None else np.asarray(problem.global_group)
    if not len(held):
        return np.zeros(0, dtype=np.int64), np.zeros(len(chunk), dtype=bool)
    pos = np.minimum(np.searchsorted(held, chunk), len(held) - 1)  # held is sorted
    here = held[pos] == chunk
    return pos[here], here


@dataclass
class GroupBatch:
    """One minibatch of SVI as the Pyro model's subsampled ``"groups"`` plate reads it (:func:`group_batches`)."""

    problem: object  # this rank's observations of the batch's groups, the groups numbered 0.. in ``index`` order
    index: torch.Tensor  # the groups' global ids: the plate's subsample
    size: int  # groups in the data, on all ranks: the plate's size
    total: int  # groups in the batch, on all ranks


def group_batches(problem, batch_groups: int, random_state=0):
    """Endless minibatches of about ``batch_groups`` groups (annotators) each, for SVI.

    Each epoch is a fresh permutation of all groups split into near-equal chunks (sizes
    differ by at most one, none above ``batch_groups``), so every batch is a uniformly random
    subset of its size and the plate's scale ``n_groups / size`` makes each step's ELBO an
    unbiased estimate of the full-data ELBO; an epoch visits every group once. The
    permutation comes from its own generator seeded by ``random_state`` (not Pyro's, whose
    draws are the guide's noise). Distributed: every rank draws the same permutation of all
    groups and keeps the ones it holds, so the ranks' batches together are the one-process
    batch, and the number of steps is the same on every rank.

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> from mixpref.models._problem import build_problem
    >>> pop = mp.synthetic.population(n_types=1, n_annotators=10, comparisons_per_annotator=4, dim=3)
    >>> batches = group_batches(build_problem(pop.data, pop.features), 4, random_state=0)
    >>> epoch = [next(batches) for _ in range(3)]  # 10 groups in chunks of 4, 3 and 3
    >>> [len(b.index) for b in epoch], sorted(np.concatenate([b.index.numpy() for b in epoch]).tolist()) == list(range(10))
    ([4, 3, 3], True)
    >>> int(epoch[0].problem.n_obs)  # the 4 annotators' comparisons
    16
    """
    comm = getattr(problem, "comm", None)
    n_all = problem.n_groups if comm is None else problem.n_groups_total
    sizes = np.bincount(problem.group_np, minlength=problem.n_groups)
    order = np.argsort(problem.group_np, kind="stable")  # observations by group: one slice of order per group
    offsets = np.cumsum(sizes) - sizes
    rng = np.random.default_rng(int(random_state))
    n_chunks = max(1, math.ceil(n_all / int(batch_groups)))
    while True:
        for chunk in np.array_split(rng.permutation(n_all), n_chunks):
            local, here = _held(problem, chunk)
            lens = sizes[local]
            within = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
            sub = problem.take(order[np.repeat(offsets[local], lens) + within],
                               group=np.repeat(np.arange(len(local)), lens))
            sub.n_groups, sub.level = len(local), "annotator"
            sub.group_size = torch.as_tensor(lens, dtype=problem.dtype, device=problem.device)
            yield GroupBatch(sub, torch.as_tensor(chunk[here], device=problem.device), int(n_all), len(chunk))


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


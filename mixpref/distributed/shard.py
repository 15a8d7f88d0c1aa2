"""Sharding by annotator: which observations each rank fits, and the rank's :class:`Problem` over them.

Every rank reads the same data (checked), computes the same assignment of groups
(annotators; single observations at ``level="observation"``) to ranks, and builds a Problem
over its own observations only: it reads only the feature rows of the responses they use
(from a memory-mapped store, nothing else is touched). Groups are renumbered locally;
``global_group`` maps them back.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from ..models._problem import Problem, response_positions


def data_fingerprint(data) -> str:
    """A digest of the observations, responses and annotators (to check that ranks read the same data)."""
    h = hashlib.blake2b(digest_size=16)
    arr = data.arrays
    for x in (arr.a, arr.b, arr.y, arr.annotator):
        h.update(np.ascontiguousarray(x).tobytes())
    rank = data.ranking_arrays
    if len(rank):
        h.update(np.ascontiguousarray(rank.items).tobytes())
    h.update(f"{len(data.responses)}/{len(data.annotators)}".encode())
    return f"{len(data)} observations, digest {h.hexdigest()}"


def group_codes(data, level: str):
    """Global group of every observation (comparisons then rankings) and the number of groups."""
    arr, rank = data.arrays, data.ranking_arrays
    ann = np.concatenate([np.asarray(arr.annotator, dtype=np.int64),
                          np.asarray(rank.annotator if len(rank) else np.zeros(0), dtype=np.int64)])
    if level == "observation":
        return np.arange(len(ann)), len(ann)
    group = ann.copy()
    unknown = group < 0
    # as in Problem: an observation without annotator is its own annotator
    group[unknown] = len(data.annotators) + np.arange(int(unknown.sum()))
    return group, len(data.annotators) + int(unknown.sum())


def assign_groups(sizes: np.ndarray, world_size: int) -> np.ndarray:
    """Owner rank of each group: groups by decreasing size dealt out in a snake (balanced observation counts).

    Examples
    --------
    >>> assign_groups(np.array([5, 1, 4, 2]), 2).tolist()
    [0, 0, 1, 1]
    """
    order = np.argsort(-np.asarray(sizes), kind="stable")
    position = np.arange(len(order))
    lap, seat = position // world_size, position % world_size
    owner = np.empty(len(order), dtype=np.int64)
    owner[order] = np.where(lap % 2 == 0, seat, world_size - 1 - seat)
    return owner


def shard_problem(data, features, spec, comm, *, device="cpu", dtype=None, stream_bytes=None,
                  design_cache=None) -> Problem:
    """This rank's Problem: the observations of the groups it owns, with totals over all ranks."""
    import torch

    dtype = dtype or torch.float32
    group, n_groups = group_codes(data, spec.level)
    owner = assign_groups(np.bincount(group, minlength=n_groups), comm.world_size)
    mine = owner[group] == comm.rank
    arr, rank = data.arrays, data.ranking_arrays
    nc = len(arr)
    cm, rm = mine[:nc], mine[nc:]
    pos = response_positions(features, data)
    logp = getattr(features, "logp_ref", None)
    prompt_codes = pd.Index(data.prompts["prompt_id"]).get_indexer(data.responses["prompt_id"])
    has_rank = len(rank) and rm.any()
    problem = Problem(
        phi=features.embeddings, phi_rows=pos, logp_ref=None if logp is None else np.asarray(logp)[pos],
        response_prompt=prompt_codes, a=arr.a[cm], b=arr.b[cm], y=arr.y[cm],
        # global group codes as annotators: each group keeps its identity across ranks
        annotator=group[:nc][cm], rank_items=rank.items[rm] if has_rank else None,
        rank_annotator=group[nc:][rm] if has_rank else np.zeros(0, dtype=np.int64), n_annotators=n_groups,
        level="annotator", device=device, dtype=dtype, stream_bytes=stream_bytes, design_cache=design_cache,
    )
    uniq, local = np.unique(problem.group_np, return_inverse=True)
    problem.group_np = local
    problem.group = torch.as_tensor(local, device=problem.device)
    problem.n_groups = len(uniq)
    problem.group_size = torch.bincount(problem.group, minlength=problem.n_groups).to(dtype) if problem.n_obs else None
    problem.global_group = uniq
    problem.n_groups_total = int(n_groups)
    problem.n_total = len(data)
    problem.annotator = np.concatenate([arr.annotator[cm], rank.annotator[rm] if has_rank else np.zeros(0, np.int64)])
    problem.comm = comm
    return problem

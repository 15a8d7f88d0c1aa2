"""The data a fit sees: integer-coded observations and aligned features as tensors (:class:`Problem`).

:func:`build_problem` turns a ``PreferenceData`` and ``Features`` into a ``Problem``; the
likelihood engine (``_engine``) and inference only ever see ``Problem`` objects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..errors import DataError


def check_data(data, what="data"):
    """Raise :class:`DataError` unless ``data`` is a PreferenceData."""
    if not (hasattr(data, "arrays") and hasattr(data, "responses")):
        raise DataError(f"{what}: expected a mixpref.PreferenceData, got {type(data).__name__}")


def check_features(features):
    """Raise :class:`DataError` unless ``features`` is a Features."""
    if not (hasattr(features, "embeddings") and hasattr(features, "align")):
        raise DataError(f"features: expected a mixpref.Features, got {type(features).__name__}")


def build_problem(data, features, *, level="annotator", device="cpu", dtype=torch.float32, use_logp_ref=True):
    """Tensors for ``data`` with the rows of ``features`` aligned to ``data.responses``."""
    check_data(data)
    check_features(features)
    feats = features.align(data)
    arr = data.arrays
    rank = data.ranking_arrays
    prompt_codes = pd.Index(data.prompts["prompt_id"]).get_indexer(data.responses["prompt_id"])
    return Problem(
        phi=feats.embeddings,
        logp_ref=feats.logp_ref if use_logp_ref else None,
        response_prompt=prompt_codes,
        a=arr.a, b=arr.b, y=arr.y, annotator=arr.annotator,
        rank_items=rank.items if len(rank) else None,
        rank_annotator=rank.annotator if len(rank) else np.zeros(0, dtype=np.int64),
        n_annotators=len(data.annotators),
        level=level, device=device, dtype=dtype,
    )


class Problem:
    """Integer-coded observations and response features as tensors on one device.

    Observations are the comparisons followed by the rankings. ``group`` maps each
    observation to the unit that shares a type: its annotator (``level="annotator"``;
    an observation without annotator becomes its own group) or itself
    (``level="observation"``).
    """

    def __init__(self, *, phi, logp_ref, response_prompt, a, b, y, annotator, rank_items=None,
                 rank_annotator=None, n_annotators=0, level="annotator", device="cpu", dtype=torch.float32):
        device = torch.device(device)
        self.device, self.dtype = device, dtype
        self.phi = torch.as_tensor(np.asarray(phi), dtype=dtype, device=device)
        self.logp_ref = None if logp_ref is None else torch.as_tensor(np.asarray(logp_ref), dtype=dtype, device=device)
        resp_prompt = np.asarray(response_prompt, dtype=np.int64)
        self.n_responses = self.phi.shape[0]
        _, prompt_codes = np.unique(resp_prompt, return_inverse=True)
        self.response_prompt = torch.as_tensor(prompt_codes, device=device)
        self.n_prompts = int(prompt_codes.max()) + 1 if len(prompt_codes) else 0
        a = np.asarray(a, dtype=np.int64)
        self.n_comparisons = len(a)
        self.a = torch.as_tensor(a, device=device)
        self.b = torch.as_tensor(np.asarray(b, dtype=np.int64), device=device)
        y = np.asarray(y, dtype=np.float64)
        self.y = torch.as_tensor(y, dtype=dtype, device=device)
        self.is_tie = self.y == 0.5
        self.sign = torch.sign(self.y - 0.5)
        self.has_ties = bool((y == 0.5).any())
        self.comparison_prompt = self.response_prompt[self.a]
        if rank_items is None or len(rank_items) == 0:
            self.rank_items = None
            rank_annotator = np.zeros(0, dtype=np.int64)
        else:
            items = np.asarray(rank_items, dtype=np.int64)
            self.rank_items = torch.as_tensor(items, device=device)
            self.rank_valid = self.rank_items >= 0
            self.rank_safe = self.rank_items.clamp(min=0)
        self.n_rankings = len(rank_annotator)
        self.n_obs = self.n_comparisons + self.n_rankings
        ann = np.concatenate([np.asarray(annotator, dtype=np.int64), np.asarray(rank_annotator, dtype=np.int64)])
        self.annotator = ann
        self.n_annotators = int(n_annotators)
        self.level = level
        if level == "annotator":
            group = ann.copy()
            unknown = group < 0
            # an observation without an annotator id is its own annotator (documented)
            group[unknown] = self.n_annotators + np.arange(int(unknown.sum()))
            self.n_groups = self.n_annotators + int(unknown.sum())
        elif level == "observation":
            group = np.arange(self.n_obs)
            self.n_groups = self.n_obs
        else:
            raise DataError(f"level: got {level!r}, expected 'annotator' or 'observation'")
        self.group_np = group
        self.group = torch.as_tensor(group, device=device)
        self.group_size = torch.bincount(self.group, minlength=self.n_groups).to(dtype) if self.n_obs else None

    # ------------------------------------------------------------------ views
    def take(self, idx, group=None, renumber=False) -> "Problem":
        """The observations at positions ``idx`` (comparisons then rankings; repeats allowed).

        ``group`` gives each taken observation its group (default: its current one);
        ``renumber`` recodes the groups as 0..G-1.
        """
        idx = np.asarray(idx, dtype=np.int64)
        group = self.group_np[idx] if group is None else np.asarray(group)
        nc = self.n_comparisons
        is_comparison = idx < nc
        sub = object.__new__(Problem)
        sub.__dict__.update(self.__dict__)
        tc = torch.as_tensor(idx[is_comparison], device=self.device)
        sub.a, sub.b, sub.y = self.a[tc], self.b[tc], self.y[tc]
        sub.is_tie, sub.sign = self.is_tie[tc], self.sign[tc]
        sub.comparison_prompt = self.comparison_prompt[tc]
        sub.n_comparisons = len(tc)
        if self.rank_items is not None:
            tr = torch.as_tensor(idx[~is_comparison] - nc, device=self.device)
            sub.rank_items, sub.rank_valid, sub.rank_safe = self.rank_items[tr], self.rank_valid[tr], self.rank_safe[tr]
        sub.n_rankings = int((~is_comparison).sum())
        sub.n_obs = sub.n_comparisons + sub.n_rankings
        sub.group_np = np.concatenate([group[is_comparison], group[~is_comparison]])
        if renumber:
            uniq, sub.group_np = np.unique(sub.group_np, return_inverse=True)
            sub.n_groups = len(uniq)
        sub.group = torch.as_tensor(sub.group_np, device=self.device)
        return sub

    def subset_groups(self, groups) -> "Problem":
        """The same problem restricted to the observations of ``groups`` (used for minibatches)."""
        return self.take(np.flatnonzero(np.isin(self.group_np, np.asarray(groups))))

"""The data a fit sees: integer-coded observations and aligned features as tensors (:class:`Problem`).

:func:`build_problem` turns a ``PreferenceData`` and ``Features`` into a ``Problem``; the
likelihood engine (``_engine``) and inference only ever see ``Problem`` objects.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from ._rows import RowSource, store_dim


def check_data(data, what="data"):
    """Raise :class:`DataError` unless ``data`` is a PreferenceData."""
    if not (hasattr(data, "arrays") and hasattr(data, "responses")):
        raise DataError(f"{what}: expected a mixpref.PreferenceData, got {type(data).__name__}")


def check_features(features):
    """Raise :class:`DataError` unless ``features`` is a Features."""
    if not (hasattr(features, "embeddings") and hasattr(features, "align")):
        raise DataError(f"features: expected a mixpref.Features, got {type(features).__name__}")


def build_problem(data, features, *, level="annotator", device="cpu", dtype=torch.float32, use_logp_ref=True,
                  formulation="auto", stream_bytes=None, design_cache=None):
    """Tensors for ``data`` with the rows of ``features`` matched to ``data.responses``.

    The features are read in place (no aligned copy): ``features.embeddings`` may be an
    array, a memory-mapped array or the cache's sharded rows (anything with ``take_rows``).
    ``formulation``, ``stream_bytes`` and ``design_cache``: see :class:`Problem`.
    """
    check_data(data)
    check_features(features)
    pos = response_positions(features, data)
    logp = getattr(features, "logp_ref", None)
    arr = data.arrays
    rank = data.ranking_arrays
    # responses of one prompt share a code (Problem renumbers them); factorize keeps no hash table alive
    prompt_codes = pd.factorize(data.responses["prompt_id"])[0]
    return Problem(
        phi=features.embeddings, phi_rows=pos,
        logp_ref=None if (logp is None or not use_logp_ref) else np.asarray(logp)[pos],
        response_prompt=prompt_codes,
        a=arr.a, b=arr.b, y=arr.y, annotator=arr.annotator,
        rank_items=rank.items if len(rank) else None,
        rank_annotator=rank.annotator if len(rank) else np.zeros(0, dtype=np.int64),
        n_annotators=len(data.annotators),
        level=level, device=device, dtype=dtype, formulation=formulation, stream_bytes=stream_bytes,
        design_cache=design_cache,
    )


def response_positions(features, data) -> np.ndarray:
    """Row of ``features`` for each response of ``data`` (vectorised; a missing one raises, named)."""
    ids = data.responses["response_id"]
    if hasattr(features, "take_rows"):  # cache-backed: positions() also checks every vector is in the cache
        return np.asarray(features.positions(ids), dtype=np.int64)
    try:
        own = features.ids
        if len(own) == len(ids) and own.dtype == ids.dtype and np.array_equal(own.to_numpy(), ids.to_numpy()):
            return np.arange(len(ids), dtype=np.int64)  # same order: no hash table kept alive by the index
        pos = own.get_indexer(ids)
    except (AttributeError, TypeError, ValueError):
        pos = None
    if pos is None or (pos < 0).any():
        pos = features.positions(ids)  # the error names the missing ids
    return np.asarray(pos, dtype=np.int64)


FORMULATIONS = ("auto", "gather", "diff")

# smallest block budget when design_cache is tiny (0 streams every row: blocks must still amortise a read)
_MIN_BLOCK_BUDGET = 2**26


# design_cache="auto" on the CPU: the largest resident design matrix that keeps a fit of 400k fresh
# comparisons (d = 384, float32 features loaded) within features + 1 GB of RSS (measured: 2.16 GB
# against 2.23; 0.5e9 gave 2.27). On an accelerator the matrix lives in device memory, and
# streaming it would copy host rows over PCIe in every pass, so "auto" sets no limit there
AUTO_DESIGN_CACHE = 0.4e9


def check_design_cache(value, device="cpu"):
    """``design_cache`` as a float number of bytes, or None (no limit; also for infinity).

    ``"auto"`` is :data:`AUTO_DESIGN_CACHE` when ``device`` is the CPU, else None. Raises
    :class:`DataError` for anything but a nonnegative number, None or ``"auto"``.

    Examples
    --------
    >>> check_design_cache(5e8), check_design_cache(None), check_design_cache(float("inf"))
    (500000000.0, None, None)
    >>> check_design_cache("auto"), check_design_cache("auto", device="cuda")
    (400000000.0, None)
    """
    if value is None:
        return None
    if isinstance(value, str) and value == "auto":
        return AUTO_DESIGN_CACHE if torch.device(device).type == "cpu" else None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or math.isnan(value) or value < 0:
        raise DataError(f"design_cache: got {value!r}, expected a nonnegative number of bytes, None for no limit "
                        "or 'auto'")
    return None if math.isinf(value) else float(value)


class Problem:
    """Integer-coded observations and their features as tensors on one device.

    Observations are the comparisons followed by the rankings. ``group`` maps each
    observation to the unit that shares a type: its annotator (``level="annotator"``;
    an observation without annotator becomes its own group) or itself
    (``level="observation"``).

    Only the responses that observations use are kept (``phi``, rows renumbered; ``a``,
    ``b`` and ``rank_items`` index them). The likelihood needs ``X @ theta.T`` for one of
    two design matrices, and ``formulation`` says which (``"auto"`` picks from the data):

    * ``"gather"``: rewards of the used responses, then gathered per comparison. Cheaper
      when responses are shared by several comparisons (``n_comparisons > n_responses``) and
      the only choice with rankings;
    * ``"diff"``: the difference vectors ``phi[a] - phi[b]`` of the comparisons, one row
      each (``diff``). Cheaper when responses are fresh (each used about once): half the
      rows of the gather, and no index_add in the backward pass.

    A design matrix larger than ``stream_bytes`` or ``design_cache`` is never materialised
    whole: it stays a :class:`~mixpref.models._rows.RowSource` read block by block from
    ``phi`` (an array, a memory map or the cache's shards) in every forward and backward
    pass, except for a leading run of rows kept resident: as many as ``design_cache`` bytes
    hold and, when the matrix exceeds ``stream_bytes``, as the budget holds besides
    ``working_bytes`` and two blocks (so a limit slightly below the matrix costs little
    time). ``design_cache=None`` and ``stream_bytes=None`` set no limit.
    ``phi_rows`` maps each response to its row of ``phi`` (default: row i).
    """

    def __init__(self, *, phi, logp_ref, response_prompt, a, b, y, annotator, rank_items=None,
                 rank_annotator=None, n_annotators=0, level="annotator", device="cpu", dtype=torch.float32,
                 phi_rows=None, formulation="auto", stream_bytes=None, design_cache=None):
        device = torch.device(device)
        self.device, self.dtype = device, dtype
        if formulation not in FORMULATIONS:
            raise DataError(f"formulation: got {formulation!r}, expected one of {FORMULATIONS}")
        store = phi if (hasattr(phi, "take_rows") or isinstance(phi, (np.ndarray, torch.Tensor))) else np.asarray(phi)
        self.dim = store_dim(store)
        n_all = len(phi_rows) if phi_rows is not None else (store.n_rows if hasattr(store, "take_rows") else store.shape[0])
        phi_rows = np.arange(n_all, dtype=np.int64) if phi_rows is None else np.asarray(phi_rows, dtype=np.int64)
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        items = None
        if rank_items is not None and len(rank_items):
            items = np.asarray(rank_items, dtype=np.int64)
        # keep only the responses observations use, renumbered 0..n-1 in their original order
        used = np.zeros(n_all, dtype=bool)
        used[a] = True
        used[b] = True
        if items is not None:
            used[items[items >= 0]] = True
        used_idx = np.flatnonzero(used)
        recode = np.full(n_all, -1, dtype=np.int64)
        recode[used_idx] = np.arange(len(used_idx))
        a, b = recode[a], recode[b]
        if items is not None:
            items = np.where(items >= 0, recode[np.maximum(items, 0)], -1)
        self._store, self._store_rows = store, phi_rows[used_idx]
        self.stream_bytes = stream_bytes
        self.design_cache = check_design_cache(design_cache, device)
        # bytes of the fit's other tensors, set by whoever knows the model (inference.batching):
        # a streamed design matrix keeps resident what stream_bytes leaves after them
        self.working_bytes = 0
        self.n_responses = len(used_idx)
        self.logp_ref = None if logp_ref is None else torch.as_tensor(np.asarray(logp_ref)[used_idx], dtype=dtype, device=device)
        resp_prompt = np.asarray(response_prompt, dtype=np.int64)[used_idx]
        _, prompt_codes = np.unique(resp_prompt, return_inverse=True)
        self.response_prompt = torch.as_tensor(prompt_codes, device=device)
        self.n_prompts = int(prompt_codes.max()) + 1 if len(prompt_codes) else 0
        self.n_comparisons = len(a)
        self.a = torch.as_tensor(a, device=device)
        self.b = torch.as_tensor(b, device=device)
        y = np.asarray(y, dtype=np.float64)
        self.y = torch.as_tensor(y, dtype=dtype, device=device)
        self.is_tie = self.y == 0.5
        self.sign = torch.sign(self.y - 0.5)
        self.has_ties = bool((y == 0.5).any())
        self.comparison_prompt = self.response_prompt[self.a]
        if items is None:
            self.rank_items = None
            rank_annotator = np.zeros(0, dtype=np.int64)
        else:
            self.rank_items = torch.as_tensor(items, device=device)
            self.rank_valid = self.rank_items >= 0
            self.rank_safe = self.rank_items.clamp(min=0)
        self.n_rankings = len(rank_annotator)
        self.n_obs = self.n_comparisons + self.n_rankings
        if formulation == "auto":
            # gather multiplies every used response once; the difference matrix every comparison once
            fresh = self.n_rankings == 0 and 0 < self.n_comparisons <= self.n_responses
            formulation = "diff" if fresh else "gather"
        elif formulation == "diff" and self.n_rankings:
            raise DataError("formulation='diff': rankings need per-response rewards; use 'gather' or 'auto'")
        self.formulation = formulation
        self._phi = None  # built on first use
        self._diff = None  # built last, below
        self.dlogp = None
        if formulation == "diff" and self.logp_ref is not None:
            self.dlogp = self.logp_ref[self.a] - self.logp_ref[self.b]
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
        # a sharded (distributed) problem replaces these: totals over all ranks and the communicator
        self.n_total = self.n_obs
        self.comm = None
        if formulation == "diff" and not self.streamed:
            # the difference matrix last, with this constructor's temporaries freed first: alive
            # while it is built they added to the fit's peak memory (0.05 GB at N = 400k). A
            # streamed one waits for first use, when working_bytes says how much may stay resident
            del used, used_idx, recode, resp_prompt, prompt_codes, ann, group
            self._diff = self._maybe_materialize(self.comparison_source())

    # ------------------------------------------------------------------ design matrices
    def _source(self, ia, ib=None) -> RowSource:
        block = self.block_rows
        if isinstance(self._store, np.ndarray) and not isinstance(self._store, np.memmap):
            # rows already in RAM: no read to amortise, and a block that stays in cache streams faster
            block = min(block, 4096)
        return RowSource(self._store, ia, ib, dtype=self.dtype, device=self.device, block_rows=block)

    @property
    def block_rows(self) -> int:
        """Rows per block when streaming: a block takes about an eighth of the smaller of
        ``stream_bytes`` and ``design_cache`` (the latter counted as at least 64 MiB)."""
        limits = [float(self.stream_bytes)] if self.stream_bytes else []
        cache = self.design_cache
        if cache is not None:
            limits.append(max(cache, _MIN_BLOCK_BUDGET))
        if not limits:
            return 8192
        per_row = self.dim * torch.finfo(self.dtype).bits // 8
        return max(1, int(min(limits)) // (8 * per_row))

    def _limit(self, nbytes: int, row: int, block_rows: int = 0):
        """Bytes of a design matrix of ``nbytes`` (rows of ``row`` bytes, streamed in blocks of
        ``block_rows``) that may stay resident; None: all of it."""
        caps = []
        if self.stream_bytes is not None and nbytes > self.stream_bytes:
            # what the budget leaves after the fit's other tensors (working_bytes) and two blocks
            # in flight (a block and the b rows subtracted from it)
            caps.append(float(self.stream_bytes) - self.working_bytes - 2 * block_rows * row)
        cache = self.design_cache
        if cache is not None and nbytes > cache:
            caps.append(cache)
        return max(min(caps), 0.0) if caps else None

    def _maybe_materialize(self, source: RowSource):
        row = max(source.nbytes // max(source.n_rows, 1), 1)
        limit = self._limit(source.nbytes, row, source.block_rows)
        if limit is not None:
            return source.keep_resident(int(limit // row))  # the leading rows the limit holds; the rest streams
        source.block_rows = min(source.block_rows, 2048)  # building X must not hold much more than X
        return source.materialize()

    @property
    def diff(self):
        """(n_comparisons, d) difference matrix of the ``"diff"`` formulation (a RowSource when streamed), else None."""
        if self.formulation != "diff":
            return None
        if self._diff is None:
            self._diff = self._maybe_materialize(self.comparison_source())
        return self._diff

    @diff.setter
    def diff(self, value):
        self._diff = value

    @property
    def streamed(self) -> bool:
        """Whether the design matrix is (or will be) read from the store block by block (out of core)."""
        x = self._diff if self.formulation == "diff" else self._phi
        if x is not None:
            return isinstance(x, RowSource)
        rows = self.n_comparisons if self.formulation == "diff" else self.n_responses
        row = self.dim * torch.finfo(self.dtype).bits // 8
        return self._limit(rows * row, row) is not None

    @property
    def phi(self):
        """(n_responses, d) features of the used responses (a RowSource when streamed)."""
        if self._phi is None:
            self._phi = self._maybe_materialize(self._source(self._store_rows))
        return self._phi

    @phi.setter
    def phi(self, value):
        self._phi = value

    def comparison_source(self) -> RowSource:
        """The comparisons' difference rows, block by block (for score vectors; never materialised)."""
        return self._source(self._store_rows[self.a.cpu().numpy()], self._store_rows[self.b.cpu().numpy()])

    def response_source(self, rows) -> RowSource:
        """Rows ``rows`` (indices of used responses) of the features, block by block."""
        return self._source(self._store_rows[np.asarray(rows)])

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
        if self.formulation == "diff":
            # a subset of a materialised matrix is indexed; otherwise the subset builds its own on first use
            parent = self.diff if not self.streamed else self._diff
            sub._diff = parent[tc] if isinstance(parent, torch.Tensor) else None
            sub.dlogp = None if self.dlogp is None else self.dlogp[tc]
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
        sub.n_total = sub.n_obs
        return sub

    def subset_groups(self, groups) -> "Problem":
        """The same problem restricted to the observations of ``groups`` (used for minibatches)."""
        return self.take(np.flatnonzero(np.isin(self.group_np, np.asarray(groups))))

"""Token ids held flat, planned into length-sorted batches and padded per batch with numpy.

Holding every text's ids in one flat array (plus offsets) and padding a batch with one
vectorised scatter removes the per-text Python work that dominates end-to-end encoding
time once the model itself runs on a GPU.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np

# texts handed to the fast tokenizer in one call (it parallelises across a batch in Rust)
TOKENIZE_BLOCK = 8192


@dataclass
class FlatTokens:
    """Token ids of n texts: ``ids[offsets[i]:offsets[i + 1]]`` are text i's."""

    ids: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_lists(cls, lists) -> "FlatTokens":
        lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
        offsets = np.zeros(len(lists) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=int(offsets[-1]))
        return cls(ids, offsets)

    @classmethod
    def concat(cls, parts) -> "FlatTokens":
        parts = list(parts)
        if not parts:
            return cls(np.zeros(0, np.int64), np.zeros(1, np.int64))
        ids = np.concatenate([p.ids for p in parts])
        lengths = np.concatenate([p.lengths for p in parts])
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(ids, offsets)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self):
        return len(self.offsets) - 1

    def row(self, i) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def pad(self, rows, pad_id: int, side: str = "right"):
        """``(ids, mask)`` int64 arrays of shape (len(rows), longest) for these rows."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[rows]
        width = int(lengths.max()) if len(rows) else 0
        out = np.full((len(rows), width), pad_id, dtype=np.int64)
        cols = np.arange(width)
        if side == "left":
            mask = cols >= (width - lengths)[:, None]
        else:
            mask = cols < lengths[:, None]
        # row-major order of mask's True cells is each row's tokens in order
        starts = np.repeat(self.offsets[rows], lengths)
        within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[mask] = self.ids[starts + within]
        return out, mask.astype(np.int64)


@dataclass
class Truncation:
    """How many texts were cut to the model's maximum length, and by how many tokens.

    Attributes
    ----------
    n_texts : int
        Texts looked at.
    n_truncated : int
        Texts longer than ``max_length`` tokens.
    tokens_dropped : int
        Tokens cut in total.
    max_dropped : int
        Most tokens cut from one text.
    max_length : int or None
        The limit in tokens.
    """

    n_texts: int = 0
    n_truncated: int = 0
    tokens_dropped: int = 0
    max_dropped: int = 0
    max_length: int | None = None

    @classmethod
    def from_dropped(cls, dropped, max_length) -> "Truncation":
        dropped = np.asarray(dropped, dtype=np.int64)
        return cls(
            n_texts=int(len(dropped)),
            n_truncated=int((dropped > 0).sum()),
            tokens_dropped=int(dropped.sum()),
            max_dropped=int(dropped.max()) if len(dropped) else 0,
            max_length=max_length,
        )

    def __str__(self):
        if not self.n_truncated:
            return f"no text truncated (max_length={self.max_length})"
        return (
            f"{self.n_truncated} of {self.n_texts} texts truncated to max_length={self.max_length} tokens: "
            f"{self.tokens_dropped} tokens dropped in total, at most {self.max_dropped} from one text"
        )

    def warn(self, what: str, stacklevel: int = 3):
        if self.n_truncated:
            warnings.warn(f"{what}: {self}", UserWarning, stacklevel=stacklevel)


def tokenize(tokenizer, texts, max_length=None, add_special_tokens=True):
    """Tokenise ``texts`` in large blocks with the fast tokenizer.

    Returns the (truncated) ids and, for each text, how many tokens truncation removed.
    Only texts that reach ``max_length`` are tokenised a second time, untruncated, to
    measure what was cut.
    """
    parts, dropped = [], np.zeros(len(texts), dtype=np.int64)
    for start in range(0, len(texts), TOKENIZE_BLOCK):
        block = list(texts[start : start + TOKENIZE_BLOCK])
        kwargs = dict(add_special_tokens=add_special_tokens, return_attention_mask=False, return_token_type_ids=False)
        if max_length is not None:
            kwargs.update(truncation=True, max_length=max_length)
        ids = tokenizer(block, **kwargs)["input_ids"]
        flat = FlatTokens.from_lists(ids)
        if max_length is not None:
            at_limit = np.flatnonzero(flat.lengths >= max_length)
            if len(at_limit):
                full = tokenizer(
                    [block[i] for i in at_limit],
                    add_special_tokens=add_special_tokens,
                    return_attention_mask=False,
                    return_token_type_ids=False,
                )["input_ids"]
                full_len = np.fromiter((len(x) for x in full), dtype=np.int64, count=len(full))
                dropped[start + at_limit] = np.maximum(full_len - flat.lengths[at_limit], 0)
        parts.append(flat)
    return FlatTokens.concat(parts), dropped


def plan_batches(lengths, batch_size="auto", token_budget=8192, sort=True, max_rows=1024):
    """Split row indices into batches.

    ``sort=True`` orders rows longest first (so padding is least and the largest batch,
    the one most likely to run out of memory, comes first); an integer ``batch_size``
    fixes the rows per batch, ``"auto"`` fills each batch up to ``token_budget`` padded
    tokens (at most ``max_rows`` rows).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    order = np.argsort(-lengths, kind="stable") if sort else np.arange(n)
    batches = []
    start = 0
    while start < n:
        if batch_size == "auto":
            if sort:
                rows = max(1, min(max_rows, token_budget // max(1, int(lengths[order[start]]))))
            else:
                rows = max(1, min(max_rows, token_budget // max(1, int(lengths.max()))))
        else:
            rows = int(batch_size)
        batches.append(order[start : start + rows])
        start += rows
    return batches

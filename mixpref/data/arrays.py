"""The integer-coded observations that models read: comparisons and rankings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# y codes -> the label words every output uses
LABEL_NAMES = {1.0: "a", 0.0: "b", 0.5: "tie"}


@dataclass(frozen=True)
class ComparisonArrays:
    """Integer-coded pairwise comparisons (what models read).

    ``prompt``, ``a``, ``b`` index rows of ``data.prompts`` / ``data.responses``; ``y`` is
    1.0 when a won, 0.0 when b won, 0.5 for a tie; ``annotator`` indexes
    ``data.annotators`` (-1: unknown).
    """

    prompt: np.ndarray
    a: np.ndarray
    b: np.ndarray
    y: np.ndarray
    annotator: np.ndarray

    def __len__(self):
        return len(self.y)

    def take(self, idx) -> "ComparisonArrays":
        return ComparisonArrays(*(np.asarray(x)[idx] for x in (self.prompt, self.a, self.b, self.y, self.annotator)))

    @classmethod
    def concatenate(cls, parts) -> "ComparisonArrays":
        fields = ("prompt", "a", "b", "y", "annotator")
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


@dataclass(frozen=True)
class RankingArrays:
    """Integer-coded rankings: ``items`` (R, L) response codes best first, padded with -1."""

    items: np.ndarray
    length: np.ndarray
    prompt: np.ndarray
    annotator: np.ndarray

    def __len__(self):
        return len(self.length)

    def take(self, idx) -> "RankingArrays":
        items = self.items[idx]
        length = self.length[idx]
        width = int(length.max()) if len(length) else 0
        return RankingArrays(items[:, :width], length, self.prompt[idx], self.annotator[idx])


def empty_comparisons() -> ComparisonArrays:
    z = np.zeros(0, dtype=np.int64)
    return ComparisonArrays(z, z, z, np.zeros(0), z)


def empty_rankings() -> RankingArrays:
    z = np.zeros(0, dtype=np.int64)
    return RankingArrays(np.zeros((0, 0), dtype=np.int64), z, z, z)

"""What a PreferenceData holds: counts, annotators, ties, repeated votes, majority cycles."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd


@dataclass
class DataSummary:
    """Counts describing a :class:`~mixpref.PreferenceData` (see ``data.summary()``)."""

    n_prompts: int
    n_responses: int
    n_annotators: int
    n_comparisons: int
    n_rankings: int
    n_ties: int
    repeated_votes: int
    per_annotator: dict = field(default_factory=dict)
    label_counts: dict = field(default_factory=dict)
    cyclic_prompts: list = field(default_factory=list)

    @property
    def tie_rate(self) -> float:
        return self.n_ties / self.n_comparisons if self.n_comparisons else 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["tie_rate"] = self.tie_rate
        out["n_cyclic_prompts"] = len(self.cyclic_prompts)
        return out

    def __str__(self):
        lines = [
            f"prompts        {self.n_prompts:,}",
            f"responses      {self.n_responses:,}",
            f"annotators     {self.n_annotators:,}",
            f"comparisons    {self.n_comparisons:,}",
            f"rankings       {self.n_rankings:,}",
            f"ties           {self.n_ties:,} ({100 * self.tie_rate:.1f}%)",
            "labels         " + ", ".join(f"{k}: {v:,}" for k, v in self.label_counts.items()),
            f"repeated votes {self.repeated_votes:,} (identical to an earlier vote by the same annotator; kept)",
        ]
        if self.per_annotator:
            pa = self.per_annotator
            lines.append(
                "per annotator  "
                f"min {pa['min']:,}, median {pa['median']:g}, mean {pa['mean']:.1f}, max {pa['max']:,} observations"
            )
        shown = ", ".join(map(str, self.cyclic_prompts[:5])) + (" ..." if len(self.cyclic_prompts) > 5 else "")
        lines.append(f"majority cycles {len(self.cyclic_prompts):,} prompt(s)" + (f": {shown}" if shown else ""))
        return "\n".join(lines)


def summarize(data) -> DataSummary:
    pairs = data.implied_comparisons().arrays if len(data.ranking_arrays) else data.arrays
    arr = data.arrays
    # a vote is the same as another when annotator, unordered pair and outcome agree
    lo = np.minimum(arr.a, arr.b)
    hi = np.maximum(arr.a, arr.b)
    outcome = np.where(arr.a == lo, arr.y, 1.0 - arr.y)
    votes = pd.DataFrame({"ann": arr.annotator, "lo": lo, "hi": hi, "y": outcome})
    # votes without an annotator id come from unknown people: never 'repeated by the same annotator'
    repeated = int((votes.duplicated() & (votes['ann'] >= 0)).sum())
    per_annotator = {}
    observed = np.concatenate([arr.annotator, data.ranking_arrays.annotator])
    n_annotators = int(len(np.unique(observed[observed >= 0])))  # those with data in this (possibly split) set
    if data.has_annotators and n_annotators:
        # observations without an annotator id (code -1) belong to no annotator
        counts = np.bincount(observed[observed >= 0], minlength=len(data.annotators))
        counts = counts[counts > 0]
        per_annotator = {
            "min": int(counts.min()),
            "median": float(np.median(counts)),
            "mean": float(counts.mean()),
            "max": int(counts.max()),
        }
    labels = {"a": int((arr.y == 1).sum()), "b": int((arr.y == 0).sum()), "tie": int((arr.y == 0.5).sum())}
    cyclic = majority_cycle_prompts(pairs)
    prompt_ids = data.prompts["prompt_id"].to_numpy(dtype=object)
    return DataSummary(
        n_prompts=len(data.prompts),
        n_responses=len(data.responses),
        n_annotators=n_annotators,
        n_comparisons=len(arr),
        n_rankings=len(data.ranking_arrays),
        n_ties=labels["tie"],
        repeated_votes=repeated,
        per_annotator=per_annotator,
        label_counts=labels,
        cyclic_prompts=[prompt_ids[p] for p in cyclic],
    )


def majority_cycle_prompts(arr) -> list:
    """Prompt codes whose pairwise-majority graph (strict majorities only) has a directed cycle."""
    if len(arr) == 0:
        return []
    lo = np.minimum(arr.a, arr.b)
    hi = np.maximum(arr.a, arr.b)
    # +1 when the lower-coded response won, -1 when it lost, 0 for a tie
    sign = np.where(arr.a == lo, 2 * arr.y - 1, 1 - 2 * arr.y)
    net = pd.DataFrame({"p": arr.prompt, "lo": lo, "hi": hi, "s": sign}).groupby(["p", "lo", "hi"], sort=True)["s"].sum()
    net = net[net != 0].reset_index()
    if net.empty:
        return []
    winner = np.where(net["s"] > 0, net["lo"], net["hi"])
    loser = np.where(net["s"] > 0, net["hi"], net["lo"])
    cyclic = []
    for p, idx in net.groupby("p").indices.items():
        if _has_cycle(winner[idx], loser[idx]):
            cyclic.append(int(p))
    return cyclic


def _has_cycle(src, dst) -> bool:
    # Kahn's algorithm: a directed graph is acyclic iff repeatedly removing sources empties it.
    nodes = np.unique(np.concatenate([src, dst]))
    pos = {n: i for i, n in enumerate(nodes.tolist())}
    indeg = np.zeros(len(nodes), dtype=np.int64)
    out = [[] for _ in nodes]
    for s, d in zip(src.tolist(), dst.tolist()):
        out[pos[s]].append(pos[d])
        indeg[pos[d]] += 1
    stack = [i for i in range(len(nodes)) if indeg[i] == 0]
    seen = 0
    while stack:
        i = stack.pop()
        seen += 1
        for j in out[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                stack.append(j)
    return seen < len(nodes)

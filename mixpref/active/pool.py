"""A pool of candidate comparisons: who could be asked which pair, with readable texts.

``pool`` is a :class:`mixpref.PreferenceData` (its comparisons are the candidates; labels
are ignored, rankings are expanded to their implied pairs) or a DataFrame with
``prompt_id`` (or ``prompt``), ``response_a``, ``response_b`` (response ids) and optionally
``annotator``. Every response must have features; each candidate is coded by its
responses' rows in ``features`` so that objectives index arrays, never loop over pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError


@dataclass
class Pool:
    """Candidate pairs: ``frame`` (ids and texts, one row per candidate) and feature rows."""

    frame: pd.DataFrame
    ia: np.ndarray  # (P,) rows of features
    ib: np.ndarray
    prompt_code: np.ndarray  # (P,) codes into ``prompts``
    prompts: pd.Index
    candidates: dict  # prompt code -> array of feature rows of that prompt's candidates

    def __len__(self):
        return len(self.frame)


def _frame_of(pool) -> pd.DataFrame:
    if hasattr(pool, "arrays") and hasattr(pool, "responses"):
        data = pool.implied_comparisons() if len(pool.ranking_arrays) else pool
        out = data.comparisons.drop(columns=["label"])
        texts = dict(zip(data.responses["response_id"], data.responses.get("text", data.responses["response_id"])))
        ptexts = dict(zip(data.prompts["prompt_id"], data.prompts.get("text", data.prompts["prompt_id"])))
        out["prompt"] = out["prompt_id"].map(ptexts)
        out["text_a"] = out["response_a"].map(texts)
        out["text_b"] = out["response_b"].map(texts)
        if not data.has_annotators:
            out = out.drop(columns=["annotator"])
        return out.reset_index(drop=True)
    if isinstance(pool, pd.DataFrame):
        df = pool.copy()
        if "prompt_id" not in df.columns and "prompt" in df.columns:
            df["prompt_id"] = df["prompt"]
        missing = [c for c in ("prompt_id", "response_a", "response_b") if c not in df.columns]
        if missing:
            raise DataError(f"pool: missing column(s) {missing}; expected prompt_id (or prompt), response_a, response_b "
                            "holding response ids, and optionally annotator")
        for col, src in (("text_a", "response_a"), ("text_b", "response_b")):
            if col not in df.columns:
                df[col] = df[src]
        if "prompt" not in df.columns:
            df["prompt"] = df["prompt_id"]
        return df.reset_index(drop=True)
    raise DataError(f"pool: got {type(pool).__name__}; expected a PreferenceData or a DataFrame of candidate pairs")


def make_pool(pool, features) -> Pool:
    """Code ``pool`` against ``features``; a response without features is a :class:`DataError` naming it."""
    frame = _frame_of(pool)
    if len(frame) == 0:
        raise DataError("pool: no candidate comparisons; expected at least one pair")
    ids = pd.Index(list(features.ids))
    ia = ids.get_indexer(pd.Index(frame["response_a"]))
    ib = ids.get_indexer(pd.Index(frame["response_b"]))
    bad = (ia < 0) | (ib < 0)
    if bad.any():
        names = pd.unique(np.concatenate([frame["response_a"].to_numpy(dtype=object)[ia < 0],
                                          frame["response_b"].to_numpy(dtype=object)[ib < 0]]))
        raise DataError(f"pool: {len(names)} response id(s) have no features, e.g. {list(names[:5])} "
                        f"(pool rows {np.flatnonzero(bad)[:5].tolist()}, {int(bad.sum())} rows in all); expected "
                        "features for every response of the pool")
    same = ia == ib
    if same.any():
        raise DataError(f"pool: rows {np.flatnonzero(same)[:5].tolist()} compare a response with itself; expected two "
                        "different responses")
    prompts = pd.Index(pd.unique(frame["prompt_id"]))
    code = prompts.get_indexer(frame["prompt_id"])
    both = np.concatenate([code, code])
    rows = np.concatenate([ia, ib])
    order = np.lexsort((rows, both))
    both, rows = both[order], rows[order]
    keep = np.r_[True, (np.diff(both) != 0) | (np.diff(rows) != 0)]
    both, rows = both[keep], rows[keep]
    bounds = np.r_[0, np.flatnonzero(np.diff(both)) + 1, len(both)]
    candidates = {int(both[s]): rows[s:e] for s, e in zip(bounds[:-1], bounds[1:])}
    return Pool(frame, ia.astype(np.int64), ib.astype(np.int64), code.astype(np.int64), prompts, candidates)

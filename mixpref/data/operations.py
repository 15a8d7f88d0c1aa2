"""What one does with PreferenceData once built: select, split, expand rankings, write out.

The public entry points are the methods of :class:`PreferenceData` (documented there).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .arrays import LABEL_NAMES, ComparisonArrays, RankingArrays


def take(data, comparison_idx, ranking_idx):
    """Some observations, the tables kept whole (so codes and features stay aligned)."""
    return type(data)(
        data.prompts,
        data.responses,
        data.annotators,
        data.arrays.take(comparison_idx),
        data.ranking_arrays.take(ranking_idx),
        response_key=data._response_key,
    )


def select(data, prompts=None, annotators=None):
    prompts, annotators = _id_list(prompts), _id_list(annotators)
    prompt_ids = data.prompts["prompt_id"]
    keep_p = np.ones(len(prompt_ids), dtype=bool) if prompts is None else prompt_ids.isin(prompts).to_numpy()
    if prompts is not None:
        unknown = set(prompts) - set(prompt_ids)
        if unknown:
            raise DataError(f"select: unknown prompt id(s) {sorted(map(str, unknown))[:5]}; expected ids of data.prompts")
    keep_a = np.ones(len(data.annotators), dtype=bool)
    if annotators is not None:
        if not data.has_annotators:
            raise DataError("select(annotators=...): the data has no annotator column")
        unknown = set(annotators) - set(data.annotators)
        if unknown:
            raise DataError(
                f"select: unknown annotator id(s) {sorted(map(str, unknown))[:5]}; expected ids of data.annotators"
            )
        keep_a = data.annotators.isin(annotators)
    arr, ra = data.arrays, data.ranking_arrays

    def kept(prompt_codes, annotator_codes):
        ok = keep_p[prompt_codes]
        if annotators is not None:
            ok &= (annotator_codes >= 0) & keep_a[np.maximum(annotator_codes, 0)]
        return np.flatnonzero(ok)

    arr, ra = arr.take(kept(arr.prompt, arr.annotator)), ra.take(kept(ra.prompt, ra.annotator))
    if len(arr) + len(ra) == 0:
        raise DataError("select: no observation is left; expected prompts/annotators that have observations")
    new_prompt = np.cumsum(keep_p) - 1
    resp_prompt_code = pd.Index(prompt_ids).get_indexer(data.responses["prompt_id"])
    resp_keep = keep_p[resp_prompt_code]
    new_resp = np.cumsum(resp_keep) - 1
    used = np.zeros(len(data.annotators), dtype=bool)
    for codes in (arr.annotator, ra.annotator):
        used[codes[codes >= 0]] = True
    new_ann = np.cumsum(used) - 1

    def recode_annotators(codes):
        return np.where(codes >= 0, new_ann[np.maximum(codes, 0)], -1)

    items = np.where(ra.items >= 0, new_resp[np.maximum(ra.items, 0)], -1)
    return type(data)(
        data.prompts[keep_p].reset_index(drop=True),
        data.responses[resp_keep].reset_index(drop=True),
        data.annotators[used],
        ComparisonArrays(new_prompt[arr.prompt], new_resp[arr.a], new_resp[arr.b], arr.y, recode_annotators(arr.annotator)),
        RankingArrays(items, ra.length, new_prompt[ra.prompt], recode_annotators(ra.annotator)),
        response_key=data._response_key,
    )


def implied_comparisons(data):
    ra = data.ranking_arrays
    parts = [data.arrays]
    for r in range(len(ra)):
        n = int(ra.length[r])
        i, j = np.triu_indices(n, k=1)
        row = ra.items[r]
        parts.append(
            ComparisonArrays(
                np.full(len(i), ra.prompt[r]), row[i], row[j], np.ones(len(i)), np.full(len(i), ra.annotator[r])
            )
        )
    merged = ComparisonArrays(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("prompt", "a", "b", "y", "annotator")))
    return type(data)(data.prompts, data.responses, data.annotators, merged, None, response_key=data._response_key)


def split(data, test_size=0.2, by="observation", random_state=0):
    from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

    if not (isinstance(test_size, (float, int)) and 0 < float(test_size) < 1):
        raise DataError(f"split: test_size={test_size!r}; expected a fraction between 0 and 1")
    n_c, n_r = len(data.arrays), len(data.ranking_arrays)
    if by == "observation":
        groups = np.arange(n_c + n_r)
    elif by == "annotator":
        if not data.has_annotators:
            raise DataError("split(by='annotator'): the data has no annotator column; use by='observation' or 'prompt'")
        groups = np.concatenate([data.arrays.annotator, data.ranking_arrays.annotator])
    elif by == "prompt":
        groups = np.concatenate([data.arrays.prompt, data.ranking_arrays.prompt])
    else:
        raise DataError(f"split: by={by!r}; expected 'observation', 'annotator' or 'prompt'")
    if len(np.unique(groups)) < 2:
        raise DataError(f"split(by={by!r}): only one {by} in the data; cannot make two disjoint parts")
    splitter = (ShuffleSplit if by == "observation" else GroupShuffleSplit)(
        n_splits=1, test_size=float(test_size), random_state=random_state
    )
    group_arg = {} if by == "observation" else {"groups": groups}
    train_idx, test_idx = next(splitter.split(np.zeros(len(groups)), **group_arg))
    train_idx.sort()
    test_idx.sort()

    def part(idx):
        return take(data, idx[idx < n_c], idx[idx >= n_c] - n_c)

    return part(train_idx), part(test_idx)


def to_frame(data) -> pd.DataFrame:
    arr = data.arrays
    column = "text" if data._response_key == "text" else "response_id"
    values = data.responses[column].to_numpy(dtype=object)
    frame = pd.DataFrame(
        {
            "prompt": data.prompts["prompt_id"].to_numpy(dtype=object)[arr.prompt],
            "response_a": values[arr.a],
            "response_b": values[arr.b],
            "label": [LABEL_NAMES[v] for v in arr.y.tolist()],
        }
    )
    if data.has_annotators:
        frame["annotator"] = data._annotator_values(arr.annotator)
    return frame


def to_pairs(data) -> pd.DataFrame:
    arr = data.arrays
    if (arr.y == 0.5).any():
        raise DataError("to_pairs: column 'label' holds ties, which prompt/chosen/rejected cannot express; use to_frame()")

    def field(table):
        # a conversation where one was given, else the text (a conversational prompt may
        # come with string responses, and the other way round)
        text = table["text"].to_numpy(dtype=object)
        if "messages" not in table.columns:
            return text
        messages = table["messages"].to_numpy(dtype=object)
        out = np.empty(len(text), dtype=object)
        for i, (t, m) in enumerate(zip(text, messages)):
            out[i] = t if m is None else m
        return out

    ptext = field(data.prompts)
    rtext = field(data.responses)
    win = np.where(arr.y == 1.0, arr.a, arr.b)
    lose = np.where(arr.y == 1.0, arr.b, arr.a)
    frame = pd.DataFrame({"prompt": ptext[arr.prompt], "chosen": rtext[win], "rejected": rtext[lose]})
    if data.has_annotators:
        frame["annotator"] = data._annotator_values(arr.annotator)
    return frame


def _id_list(ids):
    """None, or the ids as a list (one id, a string included, becomes a list of one)."""
    if ids is None:
        return None
    if isinstance(ids, str) or not np.iterable(ids):
        return [ids]
    return list(ids)

"""Reading rows into PreferenceData: long-format comparisons, TRL pairs, rankings.

The public entry points are :meth:`PreferenceData.from_frame`, ``from_pairs`` and
``from_rankings`` (documented there); these functions do the work, taking the class to build.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..errors import DataError
from .arrays import ComparisonArrays, RankingArrays
from .builder import Builder
from .conversation import check_messages, extract_prompt, is_conversation, render_messages
from .labels import parse_labels
from .validation import explains_rows, is_missing, require_frame, require_hashable, require_present, rows_text


@explains_rows
def frame_data(cls, df, prompt, response_a, response_b, label, annotator, responses, prompts, label_map):
    what = "from_frame"
    columns = [prompt, response_a, response_b, label, annotator]
    require_frame(df, what, columns)
    # an observation may lack an annotator id (merged sources): it is kept, coded -1
    for col in (c for c in columns if c is not None and c != annotator):
        require_present(df, col, what)
    for col in (c for c in (prompt, response_a, response_b, annotator) if c is not None):
        require_hashable(df, col, what)
    y = parse_labels(df, label, what, label_map)
    builder = Builder(what, responses=responses, prompts=prompts)
    prompt_values = df[prompt].tolist() if prompt is not None else ["default"] * len(df)
    p = builder.prompt_codes(prompt_values, prompt, df.index)
    a = builder.response_codes(p, df[response_a].tolist(), response_a, df.index)
    b = builder.response_codes(p, df[response_b].tolist(), response_b, df.index)
    same = a == b
    if same.any():
        raise DataError(
            f"{what}: columns {response_a!r} and {response_b!r} name the same response in "
            f"{rows_text(df.index[same])}; expected two different responses"
        )
    ann = builder.annotator_codes(df[annotator].tolist() if annotator else None)
    ann = ann if ann is not None else np.full(len(df), -1, dtype=np.int64)
    return builder.build(cls, ComparisonArrays(p, a, b, y, ann), None, builder.mode)


@explains_rows
def pairs_data(cls, df, prompt, chosen, rejected, annotator):
    what = "from_pairs"
    implicit = prompt is not None and isinstance(df, pd.DataFrame) and prompt not in df.columns and prompt == "prompt"
    columns = [None if implicit else prompt, chosen, rejected, annotator]
    require_frame(df, what, columns)
    # an observation may lack an annotator id (merged sources): it is kept, coded -1
    for col in (c for c in columns if c is not None and c != annotator):
        require_present(df, col, what)
    if annotator is not None:
        require_hashable(df, annotator, what)
    builder = Builder(what)
    n = len(df)
    p = np.empty(n, dtype=np.int64)
    a = np.empty(n, dtype=np.int64)
    b = np.empty(n, dtype=np.int64)
    prompt_values = df[prompt].tolist() if not implicit and prompt is not None else [None] * n
    for i, (row, pv, cv, rv) in enumerate(zip(df.index, prompt_values, df[chosen].tolist(), df[rejected].tolist())):
        cv = _field(cv, chosen, row, what)
        rv = _field(rv, rejected, row, what)
        if implicit:
            if type(cv) is not type(rv):
                raise DataError(
                    f"{what}: columns {chosen!r} and {rejected!r}, row {row!r}: one is a conversation and the "
                    "other a string; expected the same kind (or give a prompt column)"
                )
            pv, cv, rv = extract_prompt(cv, rv)
        elif prompt is None:
            pv = "default"
        else:
            pv = _field(pv, prompt, row, what)
        if isinstance(pv, tuple):
            builder.conversational = True
            p[i] = builder.prompt(render_messages(pv), messages=list(pv))
        else:
            p[i] = builder.prompt(pv)
        a[i] = _pair_response(builder, p[i], cv, chosen, row)
        b[i] = _pair_response(builder, p[i], rv, rejected, row)
        if a[i] == b[i]:
            raise DataError(
                f"{what}: columns {chosen!r} and {rejected!r}, row {row!r}: chosen and rejected are the "
                "same response; expected two different responses"
            )
    ann = builder.annotator_codes(df[annotator].tolist() if annotator else None)
    ann = ann if ann is not None else np.full(n, -1, dtype=np.int64)
    return builder.build(cls, ComparisonArrays(p, a, b, np.ones(n), ann), None, "text")


@explains_rows
def rankings_data(cls, df, prompt, ranking, annotator, responses, prompts):
    what = "from_rankings"
    columns = [prompt, ranking, annotator]
    require_frame(df, what, columns)
    # an observation may lack an annotator id (merged sources): it is kept, coded -1
    for col in (c for c in columns if c is not None and c != annotator):
        require_present(df, col, what)
    for col in (c for c in (prompt, annotator) if c is not None):
        require_hashable(df, col, what)
    builder = Builder(what, responses=responses, prompts=prompts)
    lists = [_ranking_list(v, ranking, row, what, builder.mode) for row, v in zip(df.index, df[ranking].tolist())]
    prompt_values = df[prompt].tolist() if prompt is not None else ["default"] * len(df)
    p = builder.prompt_codes(prompt_values, prompt, df.index)
    width = max(len(x) for x in lists)
    items = np.full((len(lists), width), -1, dtype=np.int64)
    for i, (row, pc, items_i) in enumerate(zip(df.index, p, lists)):
        codes = [builder.response(pc, v, ranking, row) for v in items_i]
        if len(set(codes)) != len(codes):
            raise DataError(
                f"{what}: column {ranking!r}, row {row!r}: the ranking lists a response twice; "
                "expected distinct responses"
            )
        items[i, : len(codes)] = codes
    length = np.array([len(x) for x in lists], dtype=np.int64)
    ann = builder.annotator_codes(df[annotator].tolist() if annotator else None)
    ann = ann if ann is not None else np.full(len(df), -1, dtype=np.int64)
    return builder.build(cls, None, RankingArrays(items, length, p, ann), builder.mode)


def _field(value, column, row, what):
    """A pairs field: a string, or a conversation returned as a tuple of messages."""
    if isinstance(value, str):
        return value
    if is_conversation(value) or isinstance(value, (list, tuple, np.ndarray)):
        return check_messages(value, column, row, what)
    raise DataError(
        f"{what}: column {column!r}, row {row!r}: got {type(value).__name__} {str(value)[:40]!r}; "
        "expected a string or a list of {'role', 'content'} messages"
    )


def _pair_response(builder, prompt_code, value, column, row):
    if isinstance(value, tuple):
        builder.conversational = True
        text = render_messages(value)
        code = builder.response(prompt_code, text, column, row)
        builder.response_messages[code] = list(value)
        return code
    return builder.response(prompt_code, value, column, row)


def _ranking_list(value, column, row, what, mode):
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list):
            raise DataError(
                f"{what}: column {column!r}, row {row!r}: got the string {value[:40]!r}; expected a list of "
                "responses, best first (a JSON list in text files)"
            )
        value = parsed
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise DataError(
            f"{what}: column {column!r}, row {row!r}: got {type(value).__name__}; expected a list of responses, best first"
        )
    items = list(value)
    if len(items) < 2:
        raise DataError(f"{what}: column {column!r}, row {row!r}: a ranking of {len(items)} item(s); expected 2 or more")
    for item in items:
        if is_missing(item):
            raise DataError(f"{what}: column {column!r}, row {row!r}: the ranking holds a missing value")
        if mode == "text" and not isinstance(item, str):
            raise DataError(
                f"{what}: column {column!r}, row {row!r}: item {str(item)[:40]!r} is not a text; expected "
                "response texts (or pass responses= to give ids)"
            )
        try:
            hash(item)
        except TypeError:
            raise DataError(
                f"{what}: column {column!r}, row {row!r}: item of type {type(item).__name__} is unhashable; "
                "expected response ids or texts"
            ) from None
    if len(set(items)) != len(items):
        raise DataError(
            f"{what}: column {column!r}, row {row!r}: the ranking lists a response twice; expected distinct responses"
        )
    return items

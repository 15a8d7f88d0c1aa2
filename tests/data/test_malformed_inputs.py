"""Random malformed inputs: every constructor answers DataError naming a column, or keeps every row."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixpref as mp

SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))

# values that can land in any cell: missing, unhashable, odd types, plausible ids and texts
junk = st.one_of(
    st.none(),
    st.just(np.nan),
    st.just(pd.NA),
    st.just(float("inf")),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.sets(st.integers(), max_size=2),
    st.binary(max_size=3),
    st.integers(-2, 3),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=4),
    st.sampled_from(["a", "b", "tie", "A", " b ", "maybe", "", "x", "y"]),
)


def _check(build, frame, columns):
    try:
        data = build(frame)
    except mp.DataError as err:
        message = str(err)
        assert any(repr(c) in message or f"[{c!r}" in message or c in message for c in columns), message
        return
    # accepted: nothing may have been dropped
    n_rows = len(frame)
    assert len(data) == n_rows


def _corrupt(base, draw_column, value, action):
    frame = base.copy()
    if action == "drop":
        frame = frame.drop(columns=[draw_column])
    elif action == "empty":
        frame = frame.iloc[0:0]
    elif action == "rename":
        frame = frame.rename(columns={draw_column: draw_column + "_x"})
    else:
        frame[draw_column] = frame[draw_column].astype(object)
        frame.at[frame.index[action], draw_column] = value
    return frame


@st.composite
def corrupted(draw, base, columns, rows=3):
    column = draw(st.sampled_from(columns))
    action = draw(st.one_of(st.sampled_from(["drop", "empty", "rename"]), st.integers(0, rows - 1)))
    value = draw(junk)
    frame = _corrupt(base, column, value, action)
    if draw(st.booleans()):  # a second corruption sometimes
        frame = _corrupt(frame, draw(st.sampled_from(list(frame.columns) or columns)), draw(junk), draw(st.integers(0, max(len(frame) - 1, 0)))) if len(frame) and len(frame.columns) else frame
    return frame


LONG = pd.DataFrame(
    {
        "prompt": ["p", "p", "q"],
        "response_a": ["x", "y", "u"],
        "response_b": ["y", "z", "v"],
        "label": ["a", "tie", "b"],
        "annotator": ["w1", "w2", "w1"],
    }
)
PAIRS = pd.DataFrame({"prompt": ["p", "p", "q"], "chosen": ["x", "y", "u"], "rejected": ["y", "z", "v"], "annotator": ["w1", "w2", "w1"]})
RANKS = pd.DataFrame({"prompt": ["p", "p", "q"], "ranking": [["x", "y"], ["y", "z", "x"], ["u", "v"]], "annotator": ["w1", "w2", "w1"]})


@SETTINGS
@given(corrupted(LONG, list(LONG.columns)))
def test_from_frame_malformed(frame):
    _check(lambda f: mp.PreferenceData.from_frame(f, annotator="annotator"), frame, list(LONG.columns))


@SETTINGS
@given(corrupted(LONG, list(LONG.columns)))
def test_from_frame_ids_mode_malformed(frame):
    _check(lambda f: mp.PreferenceData.from_frame(f, annotator="annotator", responses="ids"), frame, list(LONG.columns))


@SETTINGS
@given(corrupted(PAIRS, list(PAIRS.columns)))
def test_from_pairs_malformed(frame):
    _check(lambda f: mp.PreferenceData.from_pairs(f, annotator="annotator"), frame, list(PAIRS.columns))


@SETTINGS
@given(corrupted(RANKS, list(RANKS.columns)), st.lists(junk, max_size=4))
def test_from_rankings_malformed(frame, ranking):
    if len(frame) and "ranking" in frame.columns:
        frame = frame.copy()
        frame["ranking"] = frame["ranking"].astype(object)
        frame.at[frame.index[0], "ranking"] = ranking
    _check(lambda f: mp.PreferenceData.from_rankings(f, annotator="annotator"), frame, list(RANKS.columns))


@SETTINGS
@given(st.lists(junk, min_size=0, max_size=4), st.integers(0, 3), st.booleans())
def test_features_malformed(ids, n_rows, nan):
    emb = np.zeros((n_rows, 2))
    if nan and n_rows:
        emb[0, 0] = np.nan
    try:
        f = mp.Features(ids, emb)
    except mp.DataError as err:
        assert "Features" in str(err)
        return
    assert len(f) == len(ids) == n_rows


@pytest.mark.parametrize(
    "frame, kwargs, match",
    [
        (LONG.assign(response_b=LONG.response_a), {}, "same response"),
        (LONG.assign(label=["a", "maybe", "b"]), {}, "unknown label 'maybe'"),
        (LONG.assign(prompt=["p", "q", "q"], response_a=["x", "x", "u"]), {"responses": "ids"}, "two prompts"),
        (LONG.iloc[0:0], {}, "empty"),
        (LONG.drop(columns="label"), {}, "missing column"),
        (LONG.assign(response_a=[["x"], "y", "u"]), {}, "unhashable"),
        (LONG.assign(prompt=[None, "p", "q"]), {}, "missing values"),
    ],
)
def test_messages_name_column_rows_and_expectation(frame, kwargs, match):
    with pytest.raises(mp.DataError, match=match):
        mp.PreferenceData.from_frame(frame, **kwargs)


def test_ranking_errors():
    for bad, match in [([["x"]], "2 or more"), ([["x", "x"]], "twice"), (["not json"], "list of responses")]:
        with pytest.raises(mp.DataError, match=match):
            mp.PreferenceData.from_rankings(pd.DataFrame({"prompt": ["p"], "ranking": bad}))

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


def _check(build, frame, columns, expect=None):
    try:
        data = build(frame)
    except mp.DataError as err:
        message = str(err)
        assert any(repr(c) in message or f"[{c!r}" in message or c in message for c in columns), message
        return
    # accepted: nothing may have been dropped, and every row reads as written
    n_rows = len(frame)
    assert len(data) == n_rows
    if expect is not None:
        expect(frame, data)


def _expected_label(value):
    """The label a cell means, from the documented vocabulary (written from the docs, not the code)."""
    if isinstance(value, (bool, np.bool_)):
        return "a" if value else "b"
    if isinstance(value, str):
        word = value.strip().lower()
        return word if word in ("a", "b", "tie") else None
    if isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 0.5, 1):
        return {1: "a", 0: "b", 0.5: "tie"}[value]
    return None


def _annotator(value):
    return None if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) else value


def _long_rows_read_as_written(frame, data, ids=False):
    got = data.comparisons
    assert got["label"].tolist() == [_expected_label(v) for v in frame["label"]]
    assert got["prompt_id"].tolist() == frame["prompt"].tolist()
    for column in ("response_a", "response_b"):
        if ids:
            assert got[column].tolist() == frame[column].tolist()
        else:  # texts mode: the ids are hashes; the texts behind them are the cells
            text = dict(zip(data.responses["response_id"], data.responses["text"]))
            assert [text[r] for r in got[column]] == frame[column].tolist()
    assert [_annotator(v) for v in got["annotator"]] == [_annotator(v) for v in frame["annotator"]]


def _pairs_read_as_written(frame, data):
    got = data.to_pairs()
    assert (data.arrays.y == 1.0).all()
    if "prompt" in frame.columns:
        for column in ("prompt", "chosen", "rejected"):
            assert got[column].tolist() == frame[column].tolist()
    else:  # TRL's implicit prompt: the shared prefix, split off both responses
        for column in ("chosen", "rejected"):
            assert (got["prompt"] + got[column]).tolist() == frame[column].tolist()


def _rankings_read_as_written(frame, data):
    text = dict(zip(data.responses["response_id"], data.responses["text"]))
    got = data.rankings
    assert [[text[r] for r in ranking] for ranking in got["ranking"]] == [list(v) for v in frame["ranking"]]
    assert got["prompt_id"].tolist() == frame["prompt"].tolist()


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
    _check(lambda f: mp.PreferenceData.from_frame(f, annotator="annotator"), frame, list(LONG.columns), _long_rows_read_as_written)


@SETTINGS
@given(corrupted(LONG, list(LONG.columns)))
def test_from_frame_ids_mode_malformed(frame):
    _check(
        lambda f: mp.PreferenceData.from_frame(f, annotator="annotator", responses="ids"),
        frame,
        list(LONG.columns),
        lambda f, d: _long_rows_read_as_written(f, d, ids=True),
    )


@SETTINGS
@given(corrupted(PAIRS, list(PAIRS.columns)))
def test_from_pairs_malformed(frame):
    _check(lambda f: mp.PreferenceData.from_pairs(f, annotator="annotator"), frame, list(PAIRS.columns), _pairs_read_as_written)


@SETTINGS
@given(corrupted(RANKS, list(RANKS.columns)), st.lists(junk, max_size=4))
def test_from_rankings_malformed(frame, ranking):
    if len(frame) and "ranking" in frame.columns:
        frame = frame.copy()
        frame["ranking"] = frame["ranking"].astype(object)
        frame.at[frame.index[0], "ranking"] = ranking
    _check(lambda f: mp.PreferenceData.from_rankings(f, annotator="annotator"), frame, list(RANKS.columns), _rankings_read_as_written)


@SETTINGS
@given(
    st.dictionaries(st.integers(-3, 3), st.sampled_from(["a", "b", "tie", 1, 0, 0.5]), min_size=1, max_size=4),
    st.lists(st.integers(-4, 4), min_size=3, max_size=3),
    st.sampled_from(["int", "str", "float"]),
)
def test_label_map_codes_read_as_mapped(codes, labels, form):
    """A map typed on the command line (string keys) reads a file's integer codes, and only those."""
    label_map = {str(k): v for k, v in codes.items()}
    cells = {"int": labels, "str": [f" {v} " for v in labels], "float": [float(v) for v in labels]}[form]
    frame = LONG.assign(label=pd.Series(cells, dtype=object))
    meaning = {"a": "a", "b": "b", "tie": "tie", 1: "a", 0: "b", 0.5: "tie"}
    unknown = [v for v in labels if v not in codes]
    try:
        data = mp.PreferenceData.from_frame(frame, label_map=label_map)
    except mp.DataError as err:
        assert unknown, str(err)
        assert "label_map does not name" in str(err) and f"{cells[labels.index(unknown[0])]!r}" in str(err)
        return
    assert not unknown
    assert data.comparisons["label"].tolist() == [meaning[codes[v]] for v in labels]


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

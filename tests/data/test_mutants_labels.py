"""Label parsing, case by case, and the exact wording of its errors (written to kill mutmut
survivors; tests/MUTATION.md). Expected codes follow the documented vocabulary:
'a'/True/1 -> 1.0, 'b'/False/0 -> 0.0, 'tie'/0.5 -> 0.5, anything else unknown."""

import numpy as np
import pandas as pd
import pytest

from mixpref.data import labels as L
from mixpref.errors import DataError


@pytest.mark.parametrize(
    "value, code",
    [(True, 1.0), (False, 0.0), (np.bool_(True), 1.0), (np.bool_(False), 0.0), (" A ", 1.0), ("B", 0.0),
     ("Tie", 0.5), ("ties", None), (1, 1.0), (0, 0.0), (np.int64(1), 1.0), (np.float32(0.5), 0.5), (0.7, None),
     (2, None), (-1, None), (None, None), ([1], None), (b"a", None)],
)
def test_label_value(value, code):
    assert L.label_value(value) == code


@pytest.mark.parametrize(
    "text, out",
    [(" TRUE ", True), ("false", False), ("1", 1), ("0.0", 0), ("1.0", 1), (" 0.5 ", 0.5), ("2", "2"), ("x", "x"),
     ("nan", "nan"), ("inf", "inf"), (3, 3), (None, None)],
)
def test_number_or_text(text, out):
    got = L.number_or_text(text)
    assert got == out and type(got) is type(out)


@pytest.mark.parametrize(
    "value, out",
    [(True, None), (np.bool_(False), None), (3, 3.0), (np.int8(2), 2.0), (float("inf"), None), (float("nan"), None),
     (" 2.5 ", 2.5), ("-inf", None), ("x", None), (None, None), ([1.0], None)],
)
def test_as_number(value, out):
    assert L._as_number(value) == out


@pytest.mark.parametrize(
    "value, out",
    [(" a ", "a"), (1, "1"), (0.5, "0.5"), (np.bool_(True), "True"), (True, "True"), (np.int64(7), "7"),
     (None, None), ((1,), None)],
)
def test_as_text(value, out):
    assert L._as_text(value) == out


def test_label_map_matches_exact_then_text_then_case_then_number():
    m = L.LabelMap({1: "a", "-1": "b", "Zero": "tie", "x": 0})
    assert m(1) == 1.0 and m("1") == 1.0 and m(" 1 ") == 1.0 and m(1.0) == 1.0
    assert m(-1) == 0.0 and m(-1.0) == 0.0 and m("-1.0") == 0.0
    assert m("zero") == 0.5 and m("ZERO ") == 0.5
    assert m("x") == 0.0 and m("X") == 0.0
    assert m(2) is None and m("y") is None and m([1]) is None and m(None) is None
    assert m.keys == [1, "-1", "Zero", "x"]


def test_label_map_case_folded_keys_that_disagree_are_ambiguous():
    m = L.LabelMap({"Yes": "a", "YES": "b"})
    assert m("Yes") == 1.0 and m("YES") == 0.0
    assert m("yes") is None  # folded form is ambiguous: reported, never guessed
    same = L.LabelMap({"Yes": "a", "YES": "a"})
    assert same("yes") == 1.0


def test_label_map_targets_in_every_form():
    m = L.LabelMap({"w": True, "l": "0", "t": "0.5", "W2": 1, "L2": "B"})
    assert [m(k) for k in ("w", "l", "t", "W2", "L2")] == [1.0, 0.0, 0.5, 1.0, 0.0]


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({}, "label_map: label_map={}; expected a non-empty dict from your labels to 'a', 'b' or 'tie' (or 1, 0, 0.5), "
             "e.g. {'model_a': 'a', 'model_b': 'b', 'tie': 'tie'}"),
        ([1], "label_map: label_map=[1]; expected a non-empty dict"),
        ({"x": "c"}, "label_map: label_map['x'] = 'c'; expected 'a', 'b' or 'tie' (or 1, 0, 0.5)"),
        ({None: "a"}, "label_map: label_map has a missing key None; expected label values"),
        ({float("nan"): "a"}, "label_map: label_map has a missing key nan; expected label values"),
        ({1: "a", "1": "b"}, "label_map: label_map keys '1' and another key read the same ('1') but map to different "
                             "labels; expected one meaning per label"),
        ({"1": "a", "1.0": "b"}, "label_map: label_map keys '1.0' and another key read the same (1.0) but map to "
                                 "different labels; expected one meaning per label"),
    ],
)
def test_label_map_refusals(mapping, message):
    with pytest.raises(DataError) as err:
        L.LabelMap(mapping)
    assert str(err.value).startswith(message)


def test_label_map_names_the_caller():
    with pytest.raises(DataError, match=r"^read: label_map=\{\}"):
        L.LabelMap({}, what="read")


def _message(values, label_map=None, index=None):
    df = pd.DataFrame({"w": values}, index=index)
    with pytest.raises(DataError) as err:
        L.parse_labels(df, "w", "from_frame", label_map)
    return str(err.value)


def test_parse_labels_values():
    df = pd.DataFrame({"w": ["a", "B", " tie", 1, 0, 0.5, True, False]})
    np.testing.assert_array_equal(L.parse_labels(df, "w", "f"), [1, 0, 0.5, 1, 0, 0.5, 1, 0])
    df = pd.DataFrame({"w": ["m", "n", "d"]})
    np.testing.assert_array_equal(L.parse_labels(df, "w", "f", {"m": "a", "n": "b", "d": "tie"}), [1, 0, 0.5])


def test_unknown_labels_message_many():
    msg = _message(["a", "x", "y", "x", "b", "z", "q", "r", "s", "t"], index=range(10, 20))
    assert msg == (
        "from_frame: column 'w' has unknown labels 'x' (2 rows), 'y' (1 row), 'z' (1 row), 'q' (1 row), 'r' (1 row) "
        "and 2 other values in rows [11, 12, 13, 15, 16] and 3 more; expected 'a', 'b' or 'tie', 1, 0 or 0.5, "
        "or True/False, or pass label_map to say what your labels mean, e.g. label_map={'x': 'a', 'y': 'b', 'z': 'tie'} "
        "(command line: --label-map x=a,y=b,z=tie)"
    )


def test_unknown_labels_message_six_values_one_other():
    msg = _message(["u", "v", "w", "x", "y", "z"])
    assert "'y' (1 row) and 1 other value in rows [0, 1, 2, 3, 4] and 1 more;" in msg


def test_unknown_labels_message_one_and_two():
    assert _message(["a", 0.7, "b"]) == (
        "from_frame: column 'w' has unknown label 0.7 (1 row) in row [1]; expected 'a', 'b' or 'tie', 1, 0 or 0.5, "
        "or True/False, or pass label_map to say what your labels mean"
    )
    assert _message(["a", " m", "n", "n"]) == (
        "from_frame: column 'w' has unknown labels ' m' (1 row), 'n' (2 rows) in rows [1, 2, 3]; expected 'a', 'b' "
        "or 'tie', 1, 0 or 0.5, or True/False, or pass label_map to say what your labels mean, "
        "e.g. label_map={' m': 'a', 'n': 'b'} (command line: --label-map m=a,n=b)"
    )


def test_unknown_labels_message_with_a_map():
    keys = {f"k{i}": "a" for i in range(12)}
    assert _message(["k0", "n", "n"], keys) == (
        "from_frame: column 'w' has label that label_map does not name: 'n' (2 rows) in rows [1, 2]; expected one of "
        "its keys ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9'] (add the missing labels to label_map)"
    )
    assert _message(["x", "y"], {"a": "a"}).startswith(
        "from_frame: column 'w' has labels that label_map does not name: 'x' (1 row), 'y' (1 row) in rows [0, 1];"
    )


def test_first_of_each():
    bad = np.array([True, True, False, True, True, True])
    values = ["x", "x", "ok", "y", "z", "w"]
    assert L._first_of_each(bad, values, 3) == [0, 3, 4]
    assert L._first_of_each(bad, values, 2) == [0, 3]
    assert L._first_of_each(bad, values, 9) == [0, 3, 4, 5]


def test_label_map_with_keys_that_have_no_text_form():
    m = L.LabelMap({("m", 1): "a", "z": "b"})
    assert m(("m", 1)) == 1.0 and m(("m", 2)) is None and m("z") == 0.0


def test_unknown_labels_message_exactly_five_values():
    msg = _message(["u", "v", "w", "x", "y"])
    assert "'u' (1 row), 'v' (1 row), 'w' (1 row), 'x' (1 row), 'y' (1 row) in rows [0, 1, 2, 3, 4];" in msg
    assert "other value" not in msg


def test_label_map_keys_are_shown_up_to_thirty_characters():
    long_key = "k" * 29  # repr is 31 characters: cut to 27 + '...'
    ok_key = "j" * 28  # repr is exactly 30 characters: shown whole
    msg = _message(["zz"], {long_key: "a", ok_key: "b"})
    assert f"expected one of its keys ['{'k' * 26}..., '{ok_key}']" in msg

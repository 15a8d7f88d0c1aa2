"""The shared input checks and the exact wording of their errors (written to kill mutmut
survivors; tests/MUTATION.md)."""

import numpy as np
import pandas as pd
import pytest

from mixpref.data import validation as V
from mixpref.errors import DataError


def test_rows_text():
    assert V.rows_text([3]) == "row [3]"
    assert V.rows_text([np.int64(1), 2]) == "rows [1, 2]"
    assert V.rows_text(range(5)) == "rows [0, 1, 2, 3, 4]"
    assert V.rows_text(range(6)) == "rows [0, 1, 2, 3, 4] and 1 more"
    assert V.rows_text(range(1006)) == "rows [0, 1, 2, 3, 4] and 1,001 more"
    assert V.rows_text(["a"]) == "row ['a']"


def test_short_repr_and_plain():
    assert V.short_repr("x" * 70) == "'" + "x" * 56 + "..."
    assert len(V.short_repr("x" * 70)) == 60
    assert V.short_repr("x" * 58) == "'" + "x" * 58 + "'"  # exactly 60 characters: kept whole
    assert V.short_repr(np.float64(1.5)) == "1.5"
    assert V.short_repr("abcdef", 5) == "'a..."
    assert V._plain(np.int64(3)) == 3 and type(V._plain(np.int64(3))) is int
    assert V._plain("s") == "s"


@pytest.mark.parametrize("value, missing", [(None, True), (pd.NA, True), (pd.NaT, True), (float("nan"), True),
                                            (np.float32("nan"), True), (0.0, False), ("", False), (0, False),
                                            ("nan", False)])
def test_is_missing(value, missing):
    assert V.is_missing(value) is missing


@pytest.mark.parametrize(
    "args, message",
    [
        (([1], "f", ["a"]), "f: expected a pandas DataFrame with columns ['a'], got list"),
        ((pd.DataFrame({"a": [1]}), "f", ["a", "b", "c"]), "f: missing columns ['b', 'c']; the frame has columns ['a']"),
        ((pd.DataFrame({"a": [1]}), "f", ["b", None]), "f: missing column ['b']; the frame has columns ['a']"),
        ((pd.DataFrame({"a": []}), "f", ["a", None]), "f: empty frame (no rows); expected at least one row with columns ['a']"),
        ((pd.DataFrame([[1, 2, 3]], columns=["a", "a", "b"]), "f", ["b"]),
         "f: duplicate column names ['a']; expected each column once"),
    ],
)
def test_require_frame_refusals(args, message):
    with pytest.raises(DataError) as err:
        V.require_frame(*args)
    assert str(err.value) == message


def test_require_frame_lists_at_most_twenty_columns():
    df = pd.DataFrame([list(range(25))], columns=[f"c{i}" for i in range(25)])
    with pytest.raises(DataError) as err:
        V.require_frame(df, "f", ["zz"])
    assert str(err.value) == f"f: missing column ['zz']; the frame has columns {[f'c{i}' for i in range(20)]}"
    assert V.require_frame(df, "f", ["c0", None]) is df


def test_require_present_hashable_text():
    with pytest.raises(DataError) as err:
        V.require_present(pd.DataFrame({"a": [1, None, np.nan, pd.NA]}), "a", "f")
    assert str(err.value) == "f: column 'a' has missing values (None/NaN) in rows [1, 2, 3]; expected a value in every row"
    V.require_present(pd.DataFrame({"a": [1, 0, ""]}), "a", "f")
    with pytest.raises(DataError) as err:
        V.require_hashable(pd.DataFrame({"a": [1, [2], {}]}), "a", "f")
    assert str(err.value) == ("f: column 'a' holds unhashable values (e.g. list) in rows [1, 2]; "
                              "expected ids such as strings or integers")
    V.require_hashable(pd.DataFrame({"a": [1, "x", (1, 2)]}), "a", "f")
    with pytest.raises(DataError) as err:
        V.require_text(["x", 3, "y", 4.0], "c", "f", pd.Index([5, 6, 7, 8]))
    assert str(err.value) == ("f: column 'c' holds a non-text value 3 in rows [6, 8]; "
                              "expected response texts (or pass responses= to give ids)")
    V.require_text(["x", ""], "c", "f", pd.Index([0, 1]))


def test_explains_rows_appends_the_row_convention_once():
    @V.explains_rows
    def build(message):
        """Doc kept."""
        raise DataError(message)

    assert build.__name__ == "build" and build.__doc__ == "Doc kept."
    with pytest.raises(DataError) as err:
        build("f: bad value in rows [1, 2]")
    assert str(err.value) == "f: bad value in rows [1, 2] (rows are the frame's index labels)"
    assert err.value.__suppress_context__
    with pytest.raises(DataError) as err:
        build("f: bad value in row 'x'")
    assert str(err.value) == "f: bad value in row 'x' (rows are the frame's index labels)"
    with pytest.raises(DataError) as err:
        build("f: no rows quoted")  # "rows" not followed by a row list
    assert str(err.value) == "f: no rows quoted"
    done = "f: rows [1] (rows are the frame's index labels)"
    with pytest.raises(DataError) as err:
        build(done)
    assert str(err.value) == done
    with V.row_convention("rows are file lines"):
        with pytest.raises(DataError) as err:
            build("f: bad in row [3]")
        assert str(err.value) == "f: bad in row [3] (rows are file lines)"
    with pytest.raises(DataError) as err:  # the convention is restored after the block
        build("f: bad in row [3]")
    assert str(err.value) == "f: bad in row [3] (rows are the frame's index labels)"


def test_explains_rows_passes_results_and_other_errors():
    @V.explains_rows
    def ok(x, *, y=0):
        return x + y

    assert ok(1, y=2) == 3

    @V.explains_rows
    def other():
        raise ValueError("rows [1]")

    with pytest.raises(ValueError, match=r"^rows \[1\]$"):
        other()


def test_row_convention_resets_after_an_error():
    with pytest.raises(RuntimeError):
        with V.row_convention("lines"):
            raise RuntimeError("x")
    assert V._ROWS.get() == "rows are the frame's index labels"

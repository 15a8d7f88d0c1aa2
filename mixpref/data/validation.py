"""Checks shared by every PreferenceData constructor.

Each check raises :class:`mixpref.DataError` whose message names the column, the first
offending rows, how many there are in all, and what was expected. Rows are the frame's
index labels; :func:`mixpref.read` numbers a file's rows by their lines, and every message
that quotes rows says which convention it uses (:func:`explains_rows`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re

import numpy as np
import pandas as pd

from ..errors import DataError

_SHOW = 5  # offending rows quoted in a message


_FRAME_ROWS = "rows are the frame's index labels"
_ROWS = contextvars.ContextVar("mixpref_rows", default=_FRAME_ROWS)
_QUOTES_ROWS = re.compile(r"\brows? [\[\d'\"-]")


def rows_text(index_labels) -> str:
    """'rows [3, 8, 12, 20, 31] and 3,350 more', for error messages.

    Examples
    --------
    >>> rows_text(range(3_355))
    'rows [0, 1, 2, 3, 4] and 3,350 more'
    """
    labels = list(index_labels)
    shown = ", ".join(repr(_plain(v)) for v in labels[:_SHOW])
    more = f" and {len(labels) - _SHOW:,} more" if len(labels) > _SHOW else ""
    return f"row{'s' if len(labels) > 1 else ''} [{shown}]{more}"


@contextlib.contextmanager
def row_convention(note: str):
    """Within this block, messages that quote rows explain them with ``note`` (readers: file lines)."""
    token = _ROWS.set(note)
    try:
        yield
    finally:
        _ROWS.reset(token)


def explains_rows(constructor):
    """A constructor's DataErrors that quote rows end by saying how rows are numbered."""

    @functools.wraps(constructor)
    def wrapper(*args, **kwargs):
        try:
            return constructor(*args, **kwargs)
        except DataError as err:
            message = str(err)
            note = f" ({_ROWS.get()})"
            if _QUOTES_ROWS.search(message) and not message.endswith(note):
                raise DataError(message + note) from None
            raise

    return wrapper


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def short_repr(value, width=60) -> str:
    text = repr(_plain(value))
    return text if len(text) <= width else text[: width - 3] + "..."


def require_frame(df, what: str, columns) -> pd.DataFrame:
    """``df`` must be a non-empty DataFrame holding ``columns`` (names or None)."""
    needed = [c for c in columns if c is not None]
    if not isinstance(df, pd.DataFrame):
        raise DataError(
            f"{what}: expected a pandas DataFrame with columns {needed}, got {type(df).__name__}"
        )
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(
            f"{what}: missing column{'s' if len(missing) > 1 else ''} {missing}; "
            f"the frame has columns {list(df.columns)[:20]}"
        )
    if len(df) == 0:
        raise DataError(f"{what}: empty frame (no rows); expected at least one row with columns {needed}")
    if not df.columns.is_unique:
        dup = df.columns[df.columns.duplicated()].unique().tolist()
        raise DataError(f"{what}: duplicate column names {dup}; expected each column once")
    return df


def is_missing(value) -> bool:
    """None, NaN, pd.NA, NaT: a scalar that stands for 'no value'."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return False


def require_present(df: pd.DataFrame, column: str, what: str) -> None:
    """No missing value in ``column``."""
    values = df[column]
    mask = np.fromiter((is_missing(v) for v in values), dtype=bool, count=len(values))
    if mask.any():
        raise DataError(
            f"{what}: column {column!r} has missing values (None/NaN) in {rows_text(df.index[mask])}; "
            "expected a value in every row"
        )


def require_hashable(df: pd.DataFrame, column: str, what: str) -> None:
    """Every value of ``column`` can serve as an id (hashable, not a float NaN)."""
    bad = []
    for i, value in enumerate(df[column]):
        try:
            hash(value)
        except TypeError:
            bad.append(i)
    if bad:
        first = df[column].iloc[bad[0]]
        raise DataError(
            f"{what}: column {column!r} holds unhashable values (e.g. {type(first).__name__}) in "
            f"{rows_text(df.index[bad])}; expected ids such as strings or integers"
        )


def require_text(values, column: str, what: str, index) -> None:
    """Every value is a string (texts mode)."""
    bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
    if bad:
        raise DataError(
            f"{what}: column {column!r} holds a non-text value {short_repr(values[bad[0]])} in "
            f"{rows_text(index[bad])}; expected response texts (or pass responses= to give ids)"
        )

"""Checks shared by every PreferenceData constructor.

Each check raises :class:`mixpref.DataError` whose message names the column, the first
offending rows (by the frame's index labels) and what was expected.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import pandas as pd

from ..errors import DataError

_SHOW = 5  # offending rows quoted in a message


def rows_text(index_labels) -> str:
    """'rows [3, 8, 12]' (at most a few), for error messages."""
    labels = list(index_labels)
    shown = ", ".join(repr(_plain(v)) for v in labels[:_SHOW])
    more = f" and {len(labels) - _SHOW} more" if len(labels) > _SHOW else ""
    return f"row{'s' if len(labels) > 1 else ''} [{shown}]{more}"


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _short(value, width=60) -> str:
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
    for label, value in zip(df.index, df[column]):
        if not isinstance(value, Hashable):
            bad.append(label)
            continue
        try:
            hash(value)
        except TypeError:
            bad.append(label)
        if len(bad) > _SHOW:
            break
    if bad:
        first = df.loc[bad[0], column] if df.index.is_unique else df[column].iloc[0]
        raise DataError(
            f"{what}: column {column!r} holds unhashable values (e.g. {type(first).__name__}) in "
            f"{rows_text(bad)}; expected ids such as strings or integers"
        )


def require_text(values, column: str, what: str, index) -> None:
    """Every value is a string (texts mode)."""
    bad = [lab for lab, v in zip(index, values) if not isinstance(v, str)]
    if bad:
        example = next(v for v, lab in zip(values, index) if lab == bad[0])
        raise DataError(
            f"{what}: column {column!r} holds a non-text value {_short(example)} in {rows_text(bad)}; "
            "expected response texts (or pass responses= to give ids)"
        )


_LABEL_WORDS = {"a": 1.0, "b": 0.0, "tie": 0.5}


def parse_labels(df: pd.DataFrame, column: str, what: str) -> np.ndarray:
    """Labels -> 1.0 (a wins), 0.0 (b wins), 0.5 (tie).

    Accepted: "a"/"b"/"tie" (any case), 1/0/0.5 (int or float), True/False.
    """
    out = np.empty(len(df), dtype=np.float64)
    bad = []
    for i, value in enumerate(df[column]):
        parsed = _parse_label(value)
        if parsed is None:
            bad.append(i)
            if len(bad) > _SHOW:
                break
        else:
            out[i] = parsed
    if bad:
        example = df[column].iloc[bad[0]]
        raise DataError(
            f"{what}: column {column!r} has unknown label {_short(example)} in "
            f"{rows_text(df.index[bad])}; expected 'a', 'b' or 'tie', 1, 0 or 0.5, or True/False"
        )
    return out


def _parse_label(value):
    if isinstance(value, (bool, np.bool_)):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        return _LABEL_WORDS.get(value.strip().lower())
    if isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
        return v if v in (0.0, 0.5, 1.0) else None
    return None

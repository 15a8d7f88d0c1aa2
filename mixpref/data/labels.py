"""Preference labels: 'a'/'b'/'tie', 1/0/0.5, booleans, or a user's own codes via a label map.

A label map names what a file's own labels mean, e.g. MT-Bench's winners
``{"model_a": "a", "model_b": "b", "tie": "tie"}`` or survey codes ``{1: "a", -1: "b", 0: "tie"}``.
Its keys are matched against the raw labels as they are, then by their text
(``"1"`` matches ``1``, so a map typed on the command line matches a file's numbers), then
ignoring case, then as numbers (``"1"`` matches ``1.0``). With a map, its keys are the whole
vocabulary: any other label is reported, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import DataError
from .validation import is_missing, rows_text, short_repr

_WORDS = {"a": 1.0, "b": 0.0, "tie": 0.5}
EXPECTED = "'a', 'b' or 'tie', 1, 0 or 0.5, or True/False"
_AMBIGUOUS = object()


def label_value(value):
    """The code of a label in the default vocabulary (1.0 a won, 0.0 b won, 0.5 tie), or None.

    Examples
    --------
    >>> [label_value(v) for v in ("A", " tie ", 0, 0.5, True, 0.7, 2, "model_a")]
    [1.0, 0.5, 0.0, 0.5, 1.0, None, None, None]
    """
    if isinstance(value, (bool, np.bool_)):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        return _WORDS.get(value.strip().lower())
    if isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
        # only the three codes: 0.7 or 2 are someone else's scale, and guessing would bias the fit
        return v if v in (0.0, 0.5, 1.0) else None
    return None


def number_or_text(value):
    """A label read from text: '1', '0.0', '0.5', 'true' become numbers/booleans; other values unchanged."""
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if stripped.lower() in {"true", "false"}:
        return stripped.lower() == "true"
    number = _as_number(stripped)
    if number is not None and number in (0.0, 0.5, 1.0):
        return int(number) if number != 0.5 else 0.5
    return value


def _as_number(value):
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
        return v if np.isfinite(v) else None
    if isinstance(value, str):
        try:
            v = float(value.strip())
        except ValueError:
            return None
        return v if np.isfinite(v) else None
    return None


def _as_text(value):
    if isinstance(value, (str, int, float, np.integer, np.floating, np.bool_, bool)):
        return str(value).strip()
    return None


class LabelMap:
    """A user's labels -> codes; see the module docstring for how keys are matched.

    Examples
    --------
    >>> m = LabelMap({"1": "a", "-1": "b", "0": "tie"})
    >>> [m(v) for v in (1, -1.0, "0", 2)]
    [1.0, 0.0, 0.5, None]
    """

    def __init__(self, mapping, what="label_map"):
        if not isinstance(mapping, Mapping) or not mapping:
            raise DataError(
                f"{what}: label_map={mapping!r}; expected a non-empty dict from your labels to 'a', 'b' or 'tie' "
                "(or 1, 0, 0.5), e.g. {'model_a': 'a', 'model_b': 'b', 'tie': 'tie'}"
            )
        self.keys = list(mapping)
        self._exact, self._text, self._folded, self._number = {}, {}, {}, {}
        for key, target in mapping.items():
            code = label_value(number_or_text(target))
            if code is None:
                raise DataError(
                    f"{what}: label_map[{short_repr(key)}] = {short_repr(target)}; expected 'a', 'b' or 'tie' (or 1, 0, 0.5)"
                )
            if is_missing(key):
                raise DataError(f"{what}: label_map has a missing key {short_repr(key)}; expected label values")
            self._exact[key] = code
            text = _as_text(key)
            for table, form, strict in (
                (self._text, text, True),
                (self._folded, None if text is None else text.casefold(), False),
                (self._number, _as_number(key), True),
            ):
                if form is None:
                    continue
                old = table.get(form)
                if old is not None and old is not _AMBIGUOUS and old != code:
                    if strict:
                        raise DataError(
                            f"{what}: label_map keys {short_repr(key)} and another key read the same ({form!r}) but map "
                            "to different labels; expected one meaning per label"
                        )
                    table[form] = _AMBIGUOUS
                elif old is None:
                    table[form] = code

    def __call__(self, value):
        try:
            code = self._exact.get(value)
        except TypeError:  # unhashable cell
            return None
        if code is not None:
            return code
        text = _as_text(value)
        for table, form in ((self._text, text), (self._folded, None if text is None else text.casefold())):
            code = table.get(form) if form is not None else None
            if code is not None and code is not _AMBIGUOUS:
                return code
        number = _as_number(value)
        code = self._number.get(number) if number is not None else None
        return code if code is not _AMBIGUOUS else None


def parse_labels(df: pd.DataFrame, column: str, what: str, label_map=None) -> np.ndarray:
    """Labels -> 1.0 (a wins), 0.0 (b wins), 0.5 (tie).

    Without ``label_map``: "a"/"b"/"tie" (any case), 1/0/0.5 (int or float), True/False.
    With it: the map's keys only (see :class:`LabelMap`).
    """
    parse = LabelMap(label_map, what) if label_map is not None else label_value
    values = df[column].tolist()
    out = np.empty(len(values), dtype=np.float64)
    bad = np.zeros(len(values), dtype=bool)
    for i, value in enumerate(values):
        code = parse(value)
        if code is None:
            bad[i] = True
        else:
            out[i] = code
    if bad.any():
        raise DataError(_unknown_message(df, column, what, bad, values, label_map))
    return out


def _unknown_message(df, column, what, bad, values, label_map) -> str:
    counts: dict = {}
    for i in np.flatnonzero(bad):
        shown = short_repr(values[i], 40)
        counts[shown] = counts.get(shown, 0) + 1
    listed = ", ".join(f"{v} ({n:,} row{'s' if n > 1 else ''})" for v, n in list(counts.items())[:5])
    if len(counts) > 5:
        listed += f" and {len(counts) - 5:,} other value{'s' if len(counts) > 6 else ''}"
    where = rows_text(df.index[bad])
    if label_map is not None:
        keys = ", ".join(short_repr(k, 30) for k in list(label_map)[:10])
        return (
            f"{what}: column {column!r} has label{'s' if len(counts) > 1 else ''} that label_map does not name: "
            f"{listed} in {where}; expected one of its keys [{keys}] (add the missing labels to label_map)"
        )
    hint = "or pass label_map to say what your labels mean"
    if len(counts) > 1:  # a vocabulary of its own rather than a typo: show the map that would read it
        example = ", ".join(f"{v}: {w!r}" for v, w in zip(list(counts)[:3], ("a", "b", "tie")))
        cli = ",".join(f"{str(values[i]).strip()}={w}" for i, w in zip(_first_of_each(bad, values, 3), ("a", "b", "tie")))
        hint += f", e.g. label_map={{{example}}} (command line: --label-map {cli})"
    return (
        f"{what}: column {column!r} has unknown label{'s' if len(counts) > 1 else ''} {listed} in {where}; "
        f"expected {EXPECTED}, {hint}"
    )


def _first_of_each(bad, values, n):
    seen, out = set(), []
    for i in np.flatnonzero(bad):
        key = short_repr(values[i], 40)
        if key not in seen:
            seen.add(key)
            out.append(i)
            if len(out) == n:
                break
    return out

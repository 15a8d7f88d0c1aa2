"""Read preference data from files: the reader is picked by extension."""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .labels import number_or_text
from .preference_data import PreferenceData
from .validation import row_convention

_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}
_EXPECTED = "expected .csv, .jsonl, .json, .parquet, .csv.gz or .jsonl.gz"


def read_table(path) -> pd.DataFrame:
    """A file as a DataFrame: .csv, .jsonl, .json, .parquet, and gzipped .csv.gz / .jsonl.gz.

    Raises :class:`DataError` naming the file when it is empty, truncated (a gzip stream
    cut short) or not readable as its format.
    """
    return _read(path)[0]


def _read(path):
    """(frame, line numbers of its rows or None, how rows are numbered in messages)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; {_EXPECTED} file")
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    ext = suffixes[-2] if gz and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    kind = _FORMATS.get(ext)
    if kind is None:
        raise DataError(f"{path.name}: unknown extension {''.join(path.suffixes)!r}; {_EXPECTED}")
    positions = f"rows are 0-based record positions in {path.name}"
    if kind == "parquet":
        try:
            return pd.read_parquet(path), None, positions
        except (ValueError, OSError) as err:
            raise DataError(f"{path.name}: could not be read as parquet ({err})") from None
    raw = _raw_bytes(path, gz)
    if not raw.strip():
        raise DataError(f"{path.name} is empty; expected a header line and one row per observation"
                        if kind == "csv" else f"{path.name} is empty; expected one JSON record per observation")
    try:
        if kind == "csv":
            # keep ids as written: '007' stays '007', and no column is silently turned into NaN
            frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, na_values=[""])
        else:
            frame = pd.read_json(io.BytesIO(raw), lines=kind == "jsonl", dtype=False)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path.name}: could not be read as {kind} ({err})") from None
    if len(frame) == 0:
        raise DataError(f"{path.name} has a header but no rows; expected one row per observation")
    if kind == "csv":
        lines = _csv_lines(raw, len(frame))
        note = f"rows are line numbers in {path.name}, line 1 being the header"
    elif kind == "jsonl":
        lines = _jsonl_lines(raw, len(frame))
        note = f"rows are line numbers in {path.name}"
    else:
        lines, note = None, positions
    return frame, lines, note if lines is not None else positions


def _raw_bytes(path, gz) -> bytes:
    try:
        if not gz:
            return path.read_bytes()
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except EOFError:
        raise DataError(
            f"{path.name}: the gzip stream ends early (the file is truncated, e.g. an interrupted download); "
            "expected a complete .gz file"
        ) from None
    except (OSError, zlib.error) as err:
        raise DataError(f"{path.name}: could not be decompressed as gzip ({err}); expected a gzip file") from None


def _csv_lines(raw: bytes, n_rows: int):
    """The line on which each data row starts (line 1: the header), or None if unsure."""
    n_lines = raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1)
    if n_lines == n_rows + 1:
        return np.arange(2, n_rows + 2)
    # blank lines or quoted fields spanning lines: follow the records as csv reads them
    reader = csv.reader(io.StringIO(raw.decode("utf-8", errors="replace"), newline=""))
    starts, previous = [], 0
    try:
        for record in reader:
            if record:
                starts.append(previous + 1)
            previous = reader.line_num
    except csv.Error:
        return None
    return np.asarray(starts[1:]) if len(starts) == n_rows + 1 else None


def _jsonl_lines(raw: bytes, n_rows: int):
    lines = [i for i, line in enumerate(raw.split(b"\n"), start=1) if line.strip()]
    return np.asarray(lines) if len(lines) == n_rows else None


def read(path, format="auto", **column_options) -> PreferenceData:
    """Read preference data from a file.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.jsonl``/``.json``, ``.parquet``, gzipped ``.csv.gz``/``.jsonl.gz``, or a
        PrefLib ``.soc``/``.soi`` file of strict orders (:func:`mixpref.read_preflib`).
    format : {"auto", "frame", "pairs", "rankings"}
        ``"auto"`` picks from the columns: ``chosen``/``rejected`` -> pairs (TRL),
        a ``ranking`` column -> rankings, else long format (``response_a``, ``response_b``, ``label``).
    **column_options
        Passed to :meth:`PreferenceData.from_frame`, ``from_pairs`` or ``from_rankings``
        (column names, ``annotator=``, ``responses=``, ``label_map=``). ``label_map`` applies
        to long format, the one with a label column; ``label_map=None`` is ignored by every format.

    Raises
    ------
    DataError
        Prefixed with the file's name; rows are quoted by their line in the file (line 1 of a
        CSV is its header), as the message says.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd, mixpref as mp
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "prefs.csv"
    >>> pd.DataFrame({"prompt": ["p"], "response_a": ["x"], "response_b": ["y"], "label": ["a"]}).to_csv(path, index=False)
    >>> len(mp.read(path))
    1
    >>> pd.DataFrame({"prompt": ["p"], "response_a": ["x"], "response_b": ["y"], "label": [-1]}).to_csv(path, index=False)
    >>> mp.read(path, label_map={"1": "a", "-1": "b", "0": "tie"}).comparisons["label"].tolist()
    ['b']
    """
    label_map = column_options.pop("label_map", None)
    if Path(path).suffix.lower() in (".soc", ".soi", ".toc", ".toi"):
        from .preflib import read_preflib

        _no_labels(label_map, Path(path).name, "PrefLib orders")
        return read_preflib(path, **column_options)
    df, lines, note = _read(path)
    name = Path(path).name
    if format == "auto":
        if column_options.get("chosen", "chosen") in df.columns and column_options.get("rejected", "rejected") in df.columns:
            format = "pairs"
        elif column_options.get("ranking", "ranking") in df.columns:
            format = "rankings"
        else:
            format = "frame"
    constructors = {
        "frame": PreferenceData.from_frame,
        "pairs": PreferenceData.from_pairs,
        "rankings": PreferenceData.from_rankings,
    }
    if format not in constructors:
        raise DataError(f"read: format={format!r}; expected 'auto', 'frame', 'pairs' or 'rankings'")
    if format == "frame":
        column_options["label_map"] = label_map
        col = column_options.get("label", "label")
        if label_map is None and col in df.columns:
            # CSV gives labels as strings; numbers written as text must still mean 1/0/0.5
            # (a label map matches the raw text itself, so it reads the column untouched)
            df[col] = df[col].map(number_or_text)
    else:
        _no_labels(label_map, name, f"{format} (chosen beats rejected)" if format == "pairs" else "rankings")
    import inspect

    accepted = set(inspect.signature(constructors[format]).parameters) - {"df"}
    unknown = sorted(set(column_options) - accepted)
    if unknown:
        raise DataError(f"read: unknown column option(s) {unknown} for format {format!r}; expected some of {sorted(accepted)}")
    if lines is not None:
        df.index = pd.Index(lines)
    try:
        with row_convention(note):
            return constructors[format](df, **column_options)
    except DataError as err:
        raise DataError(f"{name}: {err}") from None


def _no_labels(label_map, name, kind):
    if label_map is not None:
        raise DataError(
            f"{name}: label_map was given but the file holds {kind}, which has no label column; "
            "expected label_map only for long format (response_a, response_b, label)"
        )

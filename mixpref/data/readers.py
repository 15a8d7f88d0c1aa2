"""Read preference data from files: the reader is picked by extension."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import DataError
from .preference_data import PreferenceData

_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


def read_table(path) -> pd.DataFrame:
    """A file as a DataFrame: .csv, .jsonl, .json, .parquet, and gzipped .csv.gz / .jsonl.gz."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; expected a .csv, .jsonl, .json or .parquet file")
    suffixes = [s.lower() for s in path.suffixes]
    compression = "gzip" if suffixes and suffixes[-1] == ".gz" else None
    ext = suffixes[-2] if compression and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    kind = _FORMATS.get(ext)
    if kind is None:
        raise DataError(
            f"{path.name}: unknown extension {''.join(path.suffixes)!r}; expected .csv, .jsonl, .json, "
            ".parquet, .csv.gz or .jsonl.gz"
        )
    try:
        if kind == "csv":
            # keep ids as written: '007' stays '007', and no column is silently turned into NaN
            return pd.read_csv(path, compression=compression, dtype=str, keep_default_na=False, na_values=[""])
        if kind == "jsonl":
            return pd.read_json(path, lines=True, compression=compression, dtype=False)
        if kind == "json":
            return pd.read_json(path, compression=compression, dtype=False)
        return pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path.name}: could not be read as {kind} ({err})") from None


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
        (column names, ``annotator=``).

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd, mixpref as mp
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "prefs.csv"
    >>> pd.DataFrame({"prompt": ["p"], "response_a": ["x"], "response_b": ["y"], "label": ["a"]}).to_csv(path, index=False)
    >>> len(mp.read(path))
    1
    """
    if Path(path).suffix.lower() in (".soc", ".soi", ".toc", ".toi"):
        from .preflib import read_preflib

        return read_preflib(path, **column_options)
    df = read_table(path)
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
    if format == "frame" and column_options.get("label", "label") in df.columns:
        # CSV gives labels as strings; numbers written as text must still mean 1/0/0.5
        col = column_options.get("label", "label")
        df[col] = df[col].map(_number_or_text)
    import inspect

    accepted = set(inspect.signature(constructors[format]).parameters) - {"df"}
    unknown = sorted(set(column_options) - accepted)
    if unknown:
        raise DataError(f"read: unknown column option(s) {unknown} for format {format!r}; expected some of {sorted(accepted)}")
    return constructors[format](df, **column_options)


def _number_or_text(value):
    if isinstance(value, str):
        stripped = value.strip()
        if stripped in {"1", "1.0"}:
            return 1
        if stripped in {"0", "0.0"}:
            return 0
        if stripped == "0.5":
            return 0.5
        if stripped.lower() in {"true", "false"}:
            return stripped.lower() == "true"
    return value

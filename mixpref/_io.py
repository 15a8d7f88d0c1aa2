"""File helpers every stage shares: atomic writes with normal permissions, JSON-safe values, JSON files.

One home for each (the house rule): import them from here, never re-export them under
another name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _default_mode() -> int:
    # mkstemp creates 0600 files; a written result should get what open() would give (0644
    # under the usual umask 022). The umask can only be read by setting it, so set it back.
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(target):
    """Yield a temporary path in ``target``'s folder; on success rename it onto ``target``.

    A crash or exception in the block leaves ``target`` untouched (old content or absent)
    and removes the temporary file, so a reader never sees a half-written file. The file
    gets the permissions a plain ``open(target, "w")`` would give.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "x.txt").read_text()
    'hello'
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if tmp.exists() and tmp.is_file():
            os.chmod(tmp, _default_mode())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            if tmp.is_dir():
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()


def json_safe(value):
    """``value`` as plain JSON types: numpy scalars and arrays, ranges, tuples, paths, sets.

    Anything else that JSON cannot hold becomes its ``str``. Usable as ``json.dumps(default=...)``
    and on its own.

    Examples
    --------
    >>> import numpy as np
    >>> json_safe({"a": np.float32(0.5), "b": (1, np.int64(2)), "c": range(2)})
    {'a': 0.5, 'b': [1, 2], 'c': [0, 1]}
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, (str, int, float, bool)) else k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, range, set, frozenset)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays, torch tensors
        return json_safe(value.tolist())
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def write_json(obj, path, indent=2) -> Path:
    """Write ``obj`` (made :func:`json_safe`) as indented JSON, atomically; returns the path.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> path = write_json({"k": np.int64(3)}, pathlib.Path(tempfile.mkdtemp()) / "m.json", indent=None)
    >>> path.read_text()
    '{"k": 3}'
    """
    import json

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(json_safe(obj), indent=indent), encoding="utf-8")
    return path


TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")


def write_table(frame, path) -> Path:
    """Write a DataFrame atomically as ``.csv``, ``.jsonl`` or ``.parquet``, chosen by the suffix.

    The index is not written. Raises :class:`mixpref.DataError` for another suffix.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_table(pd.DataFrame({"x": [1, 2]}), d / "t.jsonl").read_text().splitlines()
    ['{"x":1}', '{"x":2}']
    """
    from .errors import DataError

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path.name}: unknown table suffix {suffix or '(none)'!r}; expected one of {', '.join(TABLE_SUFFIXES)}")
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        elif suffix == ".jsonl":
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(tmp, index=False)
    return path

"""PrefLib files of strict orders (``.soc`` complete, ``.soi`` incomplete) as rankings.

PrefLib (preflib.org) is where social-choice data lives; pref_voting and other voting
libraries read the same format. Each data line is ``count: a,b,c`` (alternatives by their
number, best first); ``# ALTERNATIVE NAME i: name`` lines name them. Voters are anonymous,
so each of the ``count`` voters becomes one ranking without an annotator id. Orders with
ties (``.toc``/``.toi``, written ``{a,b}``) are refused with a clear error: rankings here are
strict (Plackett-Luce).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .preference_data import PreferenceData

_NAME = re.compile(r"^#\s*ALTERNATIVE NAME\s+(\d+)\s*:\s*(.*)$")
_TITLE = re.compile(r"^#\s*TITLE\s*:\s*(.*)$")


def read_preflib(path, prompt=None) -> PreferenceData:
    """Read a PrefLib ``.soc`` / ``.soi`` file as rankings (one per voter).

    Parameters
    ----------
    path : str or Path
    prompt : str, optional
        Prompt id for all rankings (default: the file's TITLE, else its name).

    Returns
    -------
    PreferenceData
        Response ids are the alternatives' numbers as strings, texts their names.

    Examples
    --------
    >>> import tempfile, pathlib, mixpref as mp
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.soc"
    >>> _ = path.write_text("# ALTERNATIVE NAME 1: x\\n# ALTERNATIVE NAME 2: y\\n2: 1,2\\n1: 2,1\\n")
    >>> data = read_preflib(path)
    >>> len(data), data.responses["text"].tolist()
    (3, ['x', 'y'])
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() in (".toc", ".toi"):
        raise DataError(f"{path.name}: orders with ties ({path.suffix}) are not supported; expected a .soc or .soi file")
    names, title, rows = {}, None, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            if m := _NAME.match(line):
                names[m.group(1)] = m.group(2).strip()
            elif m := _TITLE.match(line):
                title = m.group(1).strip() or None
            continue
        count, sep, order = line.partition(":")
        if not sep or not count.strip().isdigit():
            raise DataError(f"{path.name}, line {number}: {line[:40]!r}; expected 'count: a,b,c' (alternatives best first)")
        if "{" in order:
            raise DataError(f"{path.name}, line {number}: the order has ties ({{...}}); expected a strict order")
        items = [item.strip() for item in order.split(",") if item.strip()]
        unknown = [item for item in items if names and item not in names]
        if unknown:
            raise DataError(f"{path.name}, line {number}: alternative(s) {unknown} have no ALTERNATIVE NAME line")
        rows.extend([items] * int(count))
    if not rows:
        raise DataError(f"{path.name}: no orders found; expected lines 'count: a,b,c'")
    alternatives = sorted(names or {item for row in rows for item in row}, key=lambda a: (len(a), a))
    prompt_id = prompt or title or path.stem
    table = pd.DataFrame(
        {"response_id": alternatives, "prompt_id": prompt_id, "text": [names.get(a, a) for a in alternatives]}
    )
    frame = pd.DataFrame({"prompt": prompt_id, "ranking": rows})
    try:
        return PreferenceData.from_rankings(frame, responses=table)
    except DataError as err:
        raise DataError(f"{path.name}: {err}") from None

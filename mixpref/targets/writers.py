"""Write DPO pairs where trainers read them: JSONL, parquet, a TRL ``datasets.Dataset``."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._io import atomic_path
from ..errors import DataError

TRL_COLUMNS = ("prompt", "chosen", "rejected")


def _check_pairs(df):
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df: got {type(df).__name__}, expected a pandas DataFrame (see mp.to_dpo_pairs)")
    missing = [c for c in TRL_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"df: missing column(s) {missing}; expected {list(TRL_COLUMNS)} (got {list(df.columns)})")


def _plain(value):
    # numpy scalars/arrays and tuples of messages become JSON-ready Python values
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def to_jsonl(df, path):
    """Write pairs to JSON Lines, one pair per line, atomically.

    Parameters
    ----------
    df : pandas.DataFrame
        Pairs with at least ``prompt``, ``chosen``, ``rejected`` (all columns are written).
    path : str or path

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib, mixpref as mp
    >>> df = pd.DataFrame({"prompt": ["Q"], "chosen": ["yes"], "rejected": ["no"], "p_chosen": [0.8]})
    >>> path = mp.to_jsonl(df, pathlib.Path(tempfile.mkdtemp()) / "pairs.jsonl")
    >>> path.read_text().strip()
    '{"prompt": "Q", "chosen": "yes", "rejected": "no", "p_chosen": 0.8}'
    """
    from pathlib import Path

    _check_pairs(df)
    path = Path(path)
    columns = list(df.columns)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            for row in df.itertuples(index=False, name=None):
                fh.write(json.dumps({c: _plain(v) for c, v in zip(columns, row)}, ensure_ascii=False) + "\n")
    return path


def to_parquet(df, path):
    """Write pairs to parquet (pyarrow), atomically.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib, mixpref as mp
    >>> df = pd.DataFrame({"prompt": ["Q"], "chosen": ["yes"], "rejected": ["no"]})
    >>> path = mp.to_parquet(df, pathlib.Path(tempfile.mkdtemp()) / "pairs.parquet")
    >>> pd.read_parquet(path)["chosen"].tolist()
    ['yes']
    """
    from pathlib import Path

    _check_pairs(df)
    path = Path(path)
    out = df.copy()
    for column in out.columns:
        # mixed ids (ints and strings) are legal in pandas, not in one arrow column
        if out[column].dtype == object and len({type(v) for v in out[column] if v is not None}) > 1:
            out[column] = out[column].map(lambda v: v if v is None or isinstance(v, (list, tuple, dict)) else str(v))
    with atomic_path(path) as tmp:
        out.to_parquet(tmp, index=False)
    return path


def _as_messages(value, role, column, row):
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, (list, tuple, np.ndarray)) and all(isinstance(m, Mapping) for m in value) and len(value):
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in value]
    raise DataError(f"df: column {column!r}, row {row}: got {type(value).__name__}, expected text or a list of messages")


def to_trl_dataset(df, conversational=False, keep_columns=False):
    """A ``datasets.Dataset`` with TRL's preference columns ``prompt``, ``chosen``, ``rejected``.

    TRL's DPOTrainer takes neither per-example soft labels nor weights; use
    :func:`mixpref.resample_soft_labels` first to carry soft labels in expectation.

    Parameters
    ----------
    df : pandas.DataFrame
        Pairs from :func:`mixpref.to_dpo_pairs` (or any frame with the three columns).
    conversational : bool
        Write TRL's conversational format: the prompt as a list of messages (a user turn,
        or the original conversation when ``df`` has ``prompt_messages``), chosen and
        rejected as assistant turns.
    keep_columns : bool
        Keep the other columns (``p_chosen``, ``weight``, ...); TRL ignores them.

    Returns
    -------
    datasets.Dataset

    Examples
    --------
    >>> import pandas as pd, mixpref as mp
    >>> df = pd.DataFrame({"prompt": ["Q"], "chosen": ["yes"], "rejected": ["no"]})
    >>> mp.to_trl_dataset(df, conversational=True)[0]["chosen"]
    [{'role': 'assistant', 'content': 'yes'}]
    """
    try:
        import datasets
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("to_trl_dataset needs the 'datasets' package: pip install 'mixpref[trl]'") from err
    _check_pairs(df)
    columns = {}
    if conversational:
        sources = {"prompt": ("prompt_messages", "user"), "chosen": ("chosen_messages", "assistant"),
                   "rejected": ("rejected_messages", "assistant")}
        for column, (msg_column, role) in sources.items():
            src = msg_column if msg_column in df.columns else column
            columns[column] = [_as_messages(v, role, src, row) for row, v in enumerate(df[src].tolist())]
    else:
        for column in TRL_COLUMNS:
            values = df[column].tolist()
            for row, v in enumerate(values):
                if not isinstance(v, str):
                    raise DataError(
                        f"df: column {column!r}, row {row}: got {type(v).__name__}, expected text "
                        "(use conversational=True for messages)"
                    )
            columns[column] = values
    if keep_columns:
        for column in df.columns:
            if column not in columns and not column.endswith("_messages"):
                columns[column] = [_plain(v) for v in df[column].tolist()]
    return datasets.Dataset.from_dict(columns)

"""Checks and column access shared by the trainers (one place for the pairs schema)."""

from __future__ import annotations


import numpy as np
import pandas as pd

from .losses import LOSSES, RENAMED
from .._device import thread_limit
from ..errors import DataError

# losses that read the soft label by default; the others are hard unless soft_labels=True
SOFT_BY_DEFAULT = ("soft", "robust")


def check_loss(name):
    if name in RENAMED:
        raise DataError(RENAMED[name])
    if name not in LOSSES:
        raise DataError(f"loss {name!r}: unknown; expected one of {', '.join(LOSSES)}")


def require_columns(pairs, columns, what="pairs"):
    if not isinstance(pairs, pd.DataFrame):
        raise DataError(f"{what}: got {type(pairs).__name__}, expected a pandas DataFrame (see mp.to_dpo_pairs)")
    missing = [c for c in columns if c not in pairs.columns]
    if missing:
        raise DataError(f"{what}: missing column(s) {missing}; got columns {list(pairs.columns)}")
    if len(pairs) == 0:
        raise DataError(f"{what}: no rows; expected at least one (chosen, rejected) pair")


def float_column(pairs, column, what="pairs"):
    """A column as float64, or a DataError naming the column and the first bad row."""
    try:
        return pairs[column].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        values = pairs[column].tolist()
        for row, v in enumerate(values):
            try:
                float(v)
            except (TypeError, ValueError):
                raise DataError(f"{what}: column {column!r}, row {row}: got {v!r}, expected a number") from None
        raise


def soft_labels_and_weights(pairs, loss, soft_labels):
    """Return (p or None, weights) as float64 arrays, checked."""
    use_p = loss in SOFT_BY_DEFAULT if soft_labels is None else bool(soft_labels)
    p = None
    if use_p:
        if "p_chosen" not in pairs.columns:
            raise DataError(f"pairs: loss {loss!r} with soft labels needs column 'p_chosen' (probability that chosen is preferred)")
        p = float_column(pairs, "p_chosen")
        bad = np.flatnonzero(~((p >= 0) & (p <= 1)))
        if bad.size:
            raise DataError(f"pairs: column 'p_chosen', row {int(bad[0])}: got {p[bad[0]]}, expected a probability in [0, 1]")
    if "weight" in pairs.columns:
        w = float_column(pairs, "weight")
        bad = np.flatnonzero(~(np.isfinite(w) & (w >= 0)))
        if bad.size:
            raise DataError(f"pairs: column 'weight', row {int(bad[0])}: got {w[bad[0]]}, expected a finite number >= 0")
        if not w.sum() > 0:
            raise DataError("pairs: column 'weight' sums to 0; expected some positive weight")
    else:
        w = np.ones(len(pairs))
    return p, w


def single_thread_if_small(device, size, limit=1_000_000):
    """Run tiny CPU problems on one thread: intra-op threads only add synchronisation there
    (measured 6x slower with two threads on a busy 2-core machine)."""
    return thread_limit(1 if device.type == "cpu" and size <= limit else None)

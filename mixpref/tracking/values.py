"""What a study accepts as params and metrics: nested dicts, numbers, arrays, tensors, Series.

Plain Python over numpy; torch tensors are recognised by ``.detach`` so torch is never
imported here.
"""

from __future__ import annotations


def flatten(mapping, prefix="") -> dict:
    """Nested dicts as one level of ``a.b`` keys.

    Examples
    --------
    >>> flatten({"model": "bt", "inference": {"name": "map", "steps": 50}})
    {'model': 'bt', 'inference.name': 'map', 'inference.steps': 50}
    """
    out = {}
    for key, value in (mapping or {}).items():
        key = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, prefix=f"{key}."))
        else:
            out[key] = value
    return out


def _to_numpy(value):
    import numpy as np

    if hasattr(value, "detach"):  # torch tensors, without importing torch
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float)


def metric_points(metrics, step):
    """(key, value, step) triples, and the (key, error) of values that are not numbers.

    A sequence value is a per-step series starting at ``step``; a pandas Series with an
    integer index is logged at the steps of its index.

    Examples
    --------
    >>> metric_points({"loss": [3.0, 2.0], "acc": 0.5, "bad": "x"}, step=None)[0]
    [('loss', 3.0, 0), ('loss', 2.0, 1), ('acc', 0.5, 0)]
    """
    points, bad = [], []
    start = 0 if step is None else int(step)
    for key, value in flatten(metrics).items():
        try:
            steps = None
            if hasattr(value, "index") and hasattr(value, "to_numpy"):  # pandas Series
                if getattr(value.index.dtype, "kind", "") in ("i", "u"):
                    steps = [int(s) for s in value.index]
                value = value.to_numpy()
            array = _to_numpy(value)
        except Exception as err:
            bad.append((key, err))
            continue
        if array.ndim == 0:
            points.append((key, float(array), start))
            continue
        array = array.reshape(-1)
        if steps is None:
            steps = range(start, start + len(array))
        points.extend((key, float(v), int(s)) for v, s in zip(array, steps))
    return points, bad

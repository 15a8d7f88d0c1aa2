"""Inference options shared by every model's constructor (one place for defaults and checks)."""

from __future__ import annotations

import numpy as np

from ..errors import DataError

# name -> default; every model constructor accepts these keywords
INFERENCE_DEFAULTS = {
    "inference": "map",
    "optimizer": "lbfgs",
    "n_restarts": 1,
    "max_steps": None,
    "lr": 0.05,
    "guide": "normal",
    "svi_steps": 1000,
    "svi_lr": 0.01,
    "jit": False,
    "n_samples": 200,
    "n_members": 10,
    "batch_size": None,
    "memory_budget": 4e9,
    "dtype": "float32",
    "device": "auto",
    "progress": False,
    "random_state": 0,
}


def resolve(model, overrides=None) -> dict:
    """The options of ``model`` with ``max_steps`` filled in from the optimiser."""
    opts = {name: getattr(model, name, default) for name, default in INFERENCE_DEFAULTS.items()}
    if overrides:
        opts.update({k: v for k, v in overrides.items() if v is not None})
    if opts["optimizer"] not in ("lbfgs", "adam"):
        raise DataError(f"optimizer: got {opts['optimizer']!r}, expected 'lbfgs' or 'adam'")
    if opts["max_steps"] is None:
        opts["max_steps"] = 500 if opts["optimizer"] == "lbfgs" else 1000
    seed = opts["random_state"]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"random_state: got {seed!r}, expected a nonnegative integer seed")
    if int(opts["n_restarts"]) < 1:
        raise DataError(f"n_restarts: got {opts['n_restarts']!r}, expected a positive integer")
    return opts


def resolve_ties(ties, data) -> str:
    """'auto': Davidson when the data has ties, plain Bradley–Terry otherwise."""
    if ties == "auto":
        return "davidson" if bool(np.any(data.arrays.y == 0.5)) else "bt"
    if ties == "davidson":
        return "davidson"
    if ties == "half":
        return "bt"
    raise DataError(f"ties: got {ties!r}, expected 'auto', 'davidson' or 'half'")

"""Resolving and checking a model's inference options (the names come from its constructor).

The inference options of a model class are the keyword-only parameters of its constructor
(``BradleyTerry(..., *, inference="map", optimizer="lbfgs", ...)``); the base model's
signature is the one source (see :mod:`mixpref.models.options`). A mixture overrides some of
them: its constructor parameters that carry an inference option's name, ``None`` meaning
"the base model's value".
"""

from __future__ import annotations

import inspect

import numpy as np

from ..errors import DataError


def inference_names(cls) -> list:
    """Names of the inference options of model class ``cls`` (its keyword-only constructor parameters)."""
    sig = inspect.signature(cls.__init__)
    return [n for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def resolve(model, overrides=None) -> dict:
    """The inference options of ``model``, with ``overrides`` that are not None, checked;
    ``max_steps`` filled in from the optimiser."""
    opts = {name: getattr(model, name) for name in inference_names(type(model))}
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

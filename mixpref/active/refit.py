"""Refit between rounds of elicitation, warm-started from the previous round's fit.

A mixture refitted from scratch after every batch of labels lands in a different local
optimum from round to round (its k-means starts change with the data), so a learning curve
jumps by more than the labels explain. :func:`refit` keeps the model's own restarts and adds
the previous round's parameters as one more start; the start with the best training
objective (the exact MAP objective on all labels so far) wins. The previous fit can only
win by fitting the new data better, so nothing is biased towards it, and the curve stops
paying for the restarts' luck each round.

Why the fit is spelled out here rather than ``model.fit``: the models take no initial
parameters (their fit always starts from the data); this adds one candidate to the MAP
step and then runs the model's own posterior method (``inference``) on the winner, exactly
as ``fit`` does.

Examples
--------
>>> import mixpref as mp
>>> from mixpref.active.refit import refit
>>> pop = mp.synthetic.population(n_types=2, n_annotators=30, comparisons_per_annotator=20, dim=6)
>>> first = refit(mp.MixtureBT(n_types=2, n_restarts=1), pop.data, pop.features)
>>> again = refit(first, pop.data, pop.features, previous=first)
>>> bool(again.objective_ >= first.objective_ - 1e-9), type(again.warm_start_).__name__
(True, 'bool')
"""

from __future__ import annotations

import time

from .._device import resolve_device, resolve_dtype
from ..models import _engine as E
from ..models import inference as I
from ..models._problem import build_problem, check_data


def _fresh(model):
    return type(model)(**model.get_params())


def _warm_params(previous, spec, problem):
    """The previous fit's parameters on this problem's device and dtype, or None when they do not fit the spec."""
    params = getattr(previous, "params_", None)
    if params is None or getattr(getattr(previous, "spec_", None), "to_dict", None) is None:
        return None
    shapes = E.param_shapes(spec, problem.dim)
    if set(shapes) != set(params) or any(tuple(params[k].shape) != tuple(s) for k, s in shapes.items()):
        return None  # e.g. a tie parameter appeared with the first tied label
    return {k: v.detach().clone().to(device=problem.device, dtype=problem.dtype) for k, v in params.items()}


def refit(model, data, features, previous=None):
    """A fresh copy of ``model`` (its constructor arguments) fitted to ``data``, with ``previous`` as an extra start.

    Single models (a concave objective: one optimum), ``shrinkage="auto"`` mixtures and
    minibatched fits are fitted as ``fit`` would. The returned model has ``warm_start_``:
    whether the previous round's start won.
    """
    fresh = _fresh(model)
    spec_prev = getattr(previous, "spec_", None)
    if previous is None or spec_prev is None or spec_prev.n_types == 1 or getattr(fresh, "shrinkage", None) == "auto":
        fresh.fit(data, features, study=False)
        fresh.warm_start_ = False
        return fresh
    opts = fresh._options()
    check_data(data)
    spec = fresh._spec(data, features)
    t0 = time.perf_counter()
    problem = build_problem(data, features, level=spec.level, device=resolve_device(opts["device"]),
                            dtype=resolve_dtype(opts["dtype"]), stream_bytes=opts.get("memory_budget"))
    batch = I.batch_groups(problem, spec, opts)
    init = _warm_params(previous, spec, problem)
    if batch is not None or init is None:
        fresh.fit(data, features, study=False)
        fresh.warm_start_ = False
        return fresh
    trace = I.FitTrace()
    common = dict(max_steps=opts["max_steps"], optimizer=opts["optimizer"], lr=opts["lr"], trace=trace)
    params, value = I.fit_map(spec, problem, n_restarts=opts["n_restarts"], random_state=opts["random_state"],
                              progress=opts["progress"], **common)
    w_params, w_value = I.fit_map(spec, problem, init=init, **common)
    warm = w_value > value
    if warm:
        params, value = w_params, w_value
    fit = I.Fit(params=I.order_types(spec, params), objective=value, trace=trace, batch_groups=batch)
    I.METHODS[opts["inference"]](spec, problem, fit, opts)
    fresh._set_fitted(spec, fit.params, problem, data, fit.samples)
    for name, val in fit.attributes.items():
        setattr(fresh, name, val)
    fresh.objective_ = float(fit.objective)
    fresh.fit_trace_ = fit.trace
    fresh.fit_seconds_ = time.perf_counter() - t0
    fresh.warm_start_ = bool(warm)
    return fresh


"""Inference: MAP (LBFGS on the exact marginal, or Adam), SVI, Laplace, bootstrap ensembles.

- ``optimizers``: :func:`lbfgs`, :func:`adam`
- ``initialization``: score vectors and k-means starts for mixtures
- ``map_fit``: :func:`fit_map` (restarts), :class:`FitTrace`
- ``batching``: memory budget -> annotators per minibatch, minibatch objectives
- ``svi``: :func:`fit_svi`, :func:`guide_samples`
- ``ensemble``: :func:`bootstrap` over annotators
- ``laplace``: :func:`laplace_draws` (Gaussian at the MAP, exact or low-rank Hessian)
- ``alignment``: :func:`order_types`, :func:`align_types` (label switching)

:func:`run` is what ``model.fit`` calls: a MAP fit, then the posterior method named by the
``inference`` option. A new method is one function ``(spec, problem, fit, opts) -> None``
registered in :data:`METHODS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .alignment import align_types, order_types
from .batching import batch_groups
from .ensemble import bootstrap
from .laplace import laplace_draws
from .map_fit import FitTrace, fit_map
from .svi import fit_svi, guide_samples

__all__ = ["METHODS", "Fit", "FitTrace", "align_types", "batch_groups", "bootstrap", "fit_map", "fit_svi",
           "guide_samples", "laplace_draws", "order_types", "run", "warm_params"]


@dataclass
class Fit:
    """What inference hands back to the model: point estimate, objective, draws and extra fitted attributes."""

    params: dict
    objective: float
    trace: FitTrace
    batch_groups: int | None = None
    samples: list | None = None  # parameter dicts (posterior draws or ensemble members)
    attributes: dict = field(default_factory=dict)  # set on the model as they are (e.g. svi_losses_)


def _map(spec, problem, fit, opts):
    return None


def _svi(spec, problem, fit, opts):
    guide, median, losses = fit_svi(
        spec, problem, fit.params, guide=opts["guide"], steps=opts["svi_steps"], lr=opts["svi_lr"],
        progress=opts["progress"], random_state=opts["random_state"], jit=opts["jit"], batch_groups=fit.batch_groups,
    )
    fit.samples = guide_samples(spec, guide, opts["n_samples"], random_state=opts["random_state"])
    fit.params = median
    fit.attributes["svi_losses_"] = np.asarray(losses)


def _ensemble(spec, problem, fit, opts):
    fit.samples = bootstrap(spec, problem, fit.params, opts, fit.batch_groups)


def _laplace(spec, problem, fit, opts):
    fit.samples, info = laplace_draws(spec, problem, fit.params, opts["n_samples"], random_state=opts["random_state"])
    fit.attributes["laplace_"] = info


# inference option value -> what runs after the MAP fit
METHODS = {"map": _map, "svi": _svi, "ensemble": _ensemble, "laplace": _laplace}


def warm_params(params, spec, problem):
    """``params`` (a previous fit's ``params_``) on the problem's device and dtype, or None when
    their names or shapes do not match ``spec`` (e.g. a tie parameter appeared with new data)."""
    from .. import _engine as E

    if not params:
        return None
    shapes = E.param_shapes(spec, problem.dim)
    if set(shapes) != set(params) or any(tuple(params[k].shape) != tuple(s) for k, s in shapes.items()):
        return None
    return {k: v.detach().clone().to(device=problem.device, dtype=problem.dtype) for k, v in params.items()}


def run(spec, problem, opts, init=None) -> Fit:
    """MAP fit (types ordered by weight), then the posterior method ``opts["inference"]``.

    ``init``: parameters (as :func:`warm_params` returns them) for one more start beside the
    restarts; the start with the best objective wins (``fit.attributes["warm_start_"]`` says
    whether it was this one). Ignored by minibatched (stochastic) fits, whose objectives are
    not comparable between starts.
    """
    batch = batch_groups(problem, spec, opts)
    trace = FitTrace()
    common = dict(max_steps=opts["max_steps"], optimizer=opts["optimizer"], lr=opts["lr"], trace=trace)
    params, objective = fit_map(
        spec, problem, n_restarts=opts["n_restarts"], random_state=opts["random_state"], progress=opts["progress"],
        batch_groups=batch, **common,
    )
    warm = False
    if init is not None and batch is None:
        w_params, w_objective = fit_map(spec, problem, init=init, **common)
        if w_objective > objective:
            params, objective, warm = w_params, w_objective, True
    fit = Fit(params=order_types(spec, params), objective=objective, trace=trace, batch_groups=batch)
    if init is not None:
        fit.attributes["warm_start_"] = warm
    METHODS[opts["inference"]](spec, problem, fit, opts)
    return fit

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
           "guide_samples", "laplace_draws", "order_types", "run"]


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


def run(spec, problem, opts) -> Fit:
    """MAP fit (types ordered by weight), then the posterior method ``opts["inference"]``."""
    batch = batch_groups(problem, spec, opts)
    trace = FitTrace()
    params, objective = fit_map(
        spec, problem, n_restarts=opts["n_restarts"], max_steps=opts["max_steps"], optimizer=opts["optimizer"],
        lr=opts["lr"], random_state=opts["random_state"], progress=opts["progress"], batch_groups=batch, trace=trace,
    )
    fit = Fit(params=order_types(spec, params), objective=objective, trace=trace, batch_groups=batch)
    METHODS[opts["inference"]](spec, problem, fit, opts)
    return fit

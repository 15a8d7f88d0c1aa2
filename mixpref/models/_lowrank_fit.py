"""Fitting the low-rank person model: a discrete-mixture start, LBFGS on the exact objective, SVI.

The start is the corner of the simplex: a K-type mixture fitted by the shared MAP machinery
(:func:`mixpref.models.inference.fit_map`: pooled fit, score-vector k-means, a few LBFGS steps on the
exact marginal) gives the basis rewards and, through its responsibilities, each person's
starting weights. LBFGS on :func:`._lowrank_engine.log_joint` then moves the persons off the
corners. ``inference="svi"`` continues with an AutoNormal guide from the MAP point.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from . import _engine as E
from . import _lowrank_engine as L
from .inference import FitTrace, fit_map
from .inference.optimizers import adam, lbfgs


# The corner start only has to put each basis near a type and each person near a corner: the
# LBFGS on the exact low-rank objective that follows does the rest. Measured on 36 fits (the
# personalisation study's discrete, continuous and unstructured populations at logit sd 0.3,
# 1 and 3, two seeds, simplex and free weights; 300 annotators x 100 comparisons, d = 128):
# with the mixture's LBFGS stopped after 5 iterations instead of at convergence the final
# simplex objective moved by at most 3.2e-4 nats per observation (median 5e-7), free weights'
# by -1.1e-3 to +5.9e-3 (other local optima, either way); at N = 200k (fit.py lowrank) the
# objective, held-out and 10-shot likelihood were unchanged to 1e-5 and the fit took 0.75 s
# instead of 1.04 s.
CORNER_ITERATIONS = 5


def initial_params(lr: L.LowRankSpec, problem, opts, trace) -> dict:
    """Basis from a K-type mixture (or the single model for rank 1); weights from its responsibilities."""
    K, G = lr.rank, problem.n_groups
    if K == 1:
        spec = replace(lr.basis, n_types=1)
        p, _ = fit_map(spec, problem, max_steps=opts["max_steps"], optimizer=opts["optimizer"], lr=opts["lr"],
                       random_state=opts["random_state"], trace=trace)
        resp = torch.ones((G, 1), dtype=problem.dtype, device=problem.device)
    else:
        spec = replace(lr.basis, n_types=K, concentration=1.0)
        p, _ = fit_map(spec, problem, n_restarts=opts["n_restarts"], max_steps=min(opts["max_steps"], CORNER_ITERATIONS),
                       optimizer=opts["optimizer"], lr=opts["lr"], random_state=opts["random_state"], trace=trace)
        resp = E.responsibilities(spec, p, problem)
    params = {k: v.clone() for k, v in p.items() if k in E.REWARD_PARAMS or k == "alpha"}
    if "tie" in p:
        params["tie"] = p["tie"].mean().reshape(1)
    if lr.weights == "simplex":
        # a little off the corners, where the softmax gradient vanishes
        params["eta"] = torch.log(resp.clamp_min(0.05))
    else:
        params["u"] = resp.clone()
        params["mu"] = resp.mean(0)
    return params


def fit_lowrank(lr: L.LowRankSpec, problem, opts, auto_scale=False):
    """MAP fit (and SVI draws when ``opts["inference"] == "svi"``); returns (spec, params, objective, trace,
    samples, attributes). ``auto_scale``: free weights' prior scale by empirical Bayes."""
    trace = FitTrace()
    t0 = time.perf_counter()
    n = max(problem.n_obs, 1)
    p0 = initial_params(lr, problem, opts, trace)

    def objective(p):
        return L.log_joint(lr, p, problem) / n

    start = time.perf_counter()
    if opts["optimizer"] == "adam":
        params, value, iters = adam(objective, p0, steps=opts["max_steps"], lr=opts["lr"], progress=opts["progress"])
    else:
        # the per-person weights make this objective long and flat near its optimum: stop at a change of
        # 1e-7 nats per observation (far below held-out differences) rather than 1e-9
        params, value, iters = lbfgs(objective, p0, max_iter=opts["max_steps"], tol=1e-7, progress=opts["progress"],
                                     desc="lowrank")
    trace.restarts.append({"init": "mixture corner", "objective": value, "iterations": iters,
                           "seconds": time.perf_counter() - start})
    if auto_scale and lr.weights == "free":
        lr, params, value = evidence_weight_scale(lr, problem, params, opts, trace)
    samples = None
    attributes = {}
    if opts["inference"] == "svi":
        params, samples, losses = fit_svi(lr, problem, params, opts)
        attributes["svi_losses_"] = np.asarray(losses)
        with torch.no_grad():
            value = float(objective(params))
    trace.seconds = time.perf_counter() - t0
    return lr, params, value, trace, samples, attributes


def evidence_weight_scale(lr: L.LowRankSpec, problem, params, opts, trace, max_iter=8, tol=0.02):
    """MacKay's fixed point for the prior sd of free person weights, re-fitting (warm) at each value.

    ``s^2 = sum |u_a - mu|^2 / gamma``, ``gamma = sum h / (h + 1/s^2)`` with ``h`` the diagonal of
    each person's data precision for their weights. Unlike a mixture's type assignment, a
    person's weights are estimated from their own comparisons only, so the fixed point is not
    inflated by fitted noise (measured: with no structure it fell from 1 to 0.1; with
    discrete or continuous structure to 0.29-0.34, and held-out likelihood improved in all
    three, see the report of issue 11).
    """
    import math

    n = max(problem.n_obs, 1)
    s = float(lr.weight_scale)
    value = None
    for _ in range(int(max_iter)):
        with torch.no_grad():
            r = L.basis_rewards(lr, params, problem.phi, problem.logp_ref)
            nc = problem.n_comparisons
            D = r.index_select(0, problem.a) - r.index_select(0, problem.b)
            g = problem.group[:nc]
            d = (D * params["u"].index_select(0, g)).sum(1)
            q = torch.sigmoid(d)
            H = torch.zeros_like(params["u"]).index_add(0, g, (q * (1 - q))[:, None] * D * D)
            dev = float(((params["u"] - params["mu"]) ** 2).sum())
            gamma = float((H / (H + 1.0 / s**2)).sum())
        new = max(math.sqrt(dev / gamma), 1e-3) if gamma > 0 else s
        done = abs(new - s) <= tol * s
        s = new
        lr = replace(lr, weight_scale=s)
        start = time.perf_counter()
        params, value, iters = lbfgs(lambda p, lr=lr: L.log_joint(lr, p, problem) / n, params,
                                     max_iter=opts["max_steps"], tol=1e-7)
        trace.restarts.append({"init": f"weight_scale {s:.4g}", "objective": value, "iterations": iters,
                               "seconds": time.perf_counter() - start})
        if done:
            break
    return lr, params, value


def fit_svi(lr: L.LowRankSpec, problem, init: dict, opts):
    """AutoNormal posterior over the basis and the weights, started at the MAP point."""
    import pyro
    from pyro.infer import SVI, Trace_ELBO
    from pyro.infer.autoguide import AutoNormal, init_to_value

    pyro.set_rng_seed(int(opts["random_state"]))
    pyro.clear_param_store()
    n_groups = L.group_weights(lr, init).shape[0]
    model = L.pyro_model(lr, problem, n_groups)
    guide = AutoNormal(model, init_loc_fn=init_to_value(values=L.weight_site_values(lr, init)), init_scale=0.01)
    svi = SVI(model, guide, pyro.optim.ClippedAdam({"lr": opts["svi_lr"]}), Trace_ELBO())
    scale = max(problem.n_obs, 1)
    losses = [svi.step() / scale for _ in range(int(opts["svi_steps"]))]
    with torch.no_grad():
        median = L.sites_to_params(lr, {k: v.detach() for k, v in guide.median().items()})
        draws = [L.sites_to_params(lr, {k: v.detach() for k, v in guide().items()}) for _ in range(int(opts["n_samples"]))]
    samples = {k: torch.stack([d[k].cpu() for d in draws]) for k in draws[0]}
    return median, samples, losses

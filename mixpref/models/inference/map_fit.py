"""MAP fit: LBFGS (or Adam) on the exact log posterior, with data-driven restarts for mixtures.

The objective is the model's exact enumerated log joint, the same number Pyro's
``TraceEnum_ELBO`` computes with an ``AutoDelta`` guide (checked in the tests), so the fast
path is still the Pyro model's MAP estimate.

Mixtures start from the pooled single-type fit: k-means on annotators' score vectors
(:mod:`.initialization`) gives initial responsibilities, one rough EM M-step turns them into
per-type rewards, then LBFGS on the exact marginal finishes. Several restarts (different
k-means seeds) are run and the one with the highest training objective is kept.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .. import _engine as E
from .batching import minibatch_objectives
from .initialization import group_score_vectors, kmeans_init, same_partition
from .optimizers import adam, lbfgs


class FitTrace:
    """What a fit did: objective per restart, iterations, seconds."""

    def __init__(self):
        self.restarts = []  # list of dicts
        self.seconds = 0.0

    def to_dict(self):
        return {"restarts": self.restarts, "seconds": self.seconds}



def fit_map(spec: E.Spec, problem: E.Problem, *, n_restarts=1, max_steps=500, optimizer="lbfgs", lr=0.05,
            random_state=0, progress=False, init=None, batch_groups=None, trace=None):
    """MAP estimate of all parameters; returns (params, objective per observation)."""
    gen = torch.Generator().manual_seed(int(random_state))
    n = max(problem.n_obs, 1)
    dim = problem.phi.shape[1]
    trace = trace if trace is not None else FitTrace()
    t0 = time.perf_counter()

    def objective(p):
        return E.log_joint(spec, p, problem) / n

    minibatches = None
    if batch_groups is not None:
        minibatches = minibatch_objectives(spec, problem, batch_groups, gen)
        optimizer = "adam"

    last_seconds = [0.0]

    def run(p0, desc):
        start = time.perf_counter()
        if optimizer == "lbfgs":
            out = lbfgs(objective, p0, max_iter=max_steps, progress=progress, desc=desc)
        elif optimizer == "adam":
            out = adam(objective, p0, steps=max_steps, lr=lr, progress=progress, desc=desc, minibatches=minibatches)
        else:
            raise ValueError(f"optimizer: got {optimizer!r}, expected 'lbfgs' or 'adam'")
        # the returned objective is a host float, so the device has finished by now
        last_seconds[0] = time.perf_counter() - start
        return out

    if init is not None:
        params, value, iters = run(init, "fit")
        trace.restarts.append({"init": "given", "objective": value, "iterations": iters, "seconds": last_seconds[0]})
        trace.seconds += time.perf_counter() - t0
        return params, value

    if spec.n_types == 1:
        p0 = E.init_params(spec, dim, gen, problem.device, problem.dtype, scale=0.0)
        params, value, iters = run(p0, "fit")
        trace.restarts.append({"init": "zero", "objective": value, "iterations": iters, "seconds": last_seconds[0]})
        trace.seconds += time.perf_counter() - t0
        return params, value

    # mixture: pooled single-type fit, then data-driven starts
    single_spec = E.Spec(**{**spec.to_dict(), "n_types": 1})
    p_single = E.init_params(single_spec, dim, gen, problem.device, problem.dtype, scale=0.0)

    def single_objective(p):
        return E.log_joint(single_spec, p, problem) / n

    p_single, _, _ = lbfgs(single_objective, p_single, max_iter=max_steps, progress=False)
    score = None
    if spec.level == "annotator" and problem.n_groups >= spec.n_types:
        score = group_score_vectors(single_spec, p_single, problem)
    best = None
    seen_starts = []
    for restart in range(max(1, int(n_restarts))):
        K = spec.n_types
        p0 = E.init_params(spec, dim, gen, problem.device, problem.dtype, scale=0.0)
        for name in p0:
            if name in p_single and name != "logits":
                p0[name] = p_single[name].expand_as(p0[name]).clone()
                if name in E.REWARD_PARAMS:
                    noise = 0.01 * torch.randn(p0[name].shape, generator=gen, dtype=torch.float64).to(p0[name])
                    p0[name] = p0[name] + noise * p_single[name].std().clamp_min(1e-3)
        if score is not None:
            labels = kmeans_init(score, problem.group_size, K, seed=int(random_state) * 1000 + restart)
            if any(same_partition(labels, other) for other in seen_starts):
                # the same start would converge to the same optimum: not worth a fit
                trace.restarts.append({"init": "score-kmeans (duplicate start, skipped)", "objective": None,
                                       "iterations": 0, "seconds": 0.0})
                continue
            seen_starts.append(labels)
            resp = np.full((problem.n_groups, K), 0.2 / K)
            resp[np.arange(problem.n_groups), labels] += 0.8
            how = "score-kmeans"
        else:
            resp = np.random.default_rng(int(random_state) * 1000 + restart).dirichlet(np.ones(K), size=problem.n_groups)
            how = "random-responsibilities"
        resp_t = torch.as_tensor(resp, dtype=problem.dtype, device=problem.device)
        p0["logits"] = torch.log(resp_t.mean(0))

        def m_step(p, resp_t=resp_t):
            return E.fixed_responsibility_objective(spec, p, problem, resp_t) / n

        # a rough M-step is enough: it only has to put each type near its cluster's optimum
        p0, _, _ = lbfgs(m_step, p0, max_iter=min(max_steps, 25))
        params, value, iters = run(p0, f"fit (restart {restart + 1}/{n_restarts})")
        trace.restarts.append({"init": how, "objective": value, "iterations": iters, "seconds": last_seconds[0]})
        if best is None or value > best[1]:
            best = (params, value)
    trace.seconds += time.perf_counter() - t0
    return best


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
from .initialization import group_score_vectors, kmeans_init, same_partition, score_components
from .linear_lbfgs import LinearObjective, maximize
from .optimizers import adam, lbfgs


# iterations of the two rough stages before LBFGS on the exact marginal (each costs a full pass
# over the features per evaluation; measured in studies/benchmarks/fit.py --shape fresh)
POOLED_ITERATIONS = 10
M_STEP_ITERATIONS = 10


def make_objective(spec: E.Spec, problem: E.Problem, n: float, resp=None):
    """The MAP objective per observation (``resp``: EM's objective for fixed responsibilities).

    Linear rewards: a :class:`~.linear_lbfgs.LinearObjective` (the optimiser then reads
    the features once per pass). On a sharded problem (``problem.comm`` set, one shard per
    rank of a torch.distributed group) the data term and its gradient are summed over
    ranks, so every rank's optimiser sees the full-data objective; the prior enters once.
    """
    if E.design(spec, problem) is not None:
        if resp is None:
            return LinearObjective(spec, problem, n, lambda p, z: E.log_marginal(spec, p, problem, z))
        return LinearObjective(spec, problem, n, lambda p, z: E.responsibility_term(spec, p, problem, resp, z))
    if problem.comm is not None:
        from ...distributed.objective import reduced_objective

        return reduced_objective(spec, problem, n, resp)
    if resp is None:
        return lambda p: E.log_joint(spec, p, problem) / n
    return lambda p: E.fixed_responsibility_objective(spec, p, problem, resp) / n


def maximize_lbfgs(objective, params, max_iter, progress=False, desc="fit"):
    """LBFGS on ``objective``: the linear-structure variant when it has one, else torch's."""
    if isinstance(objective, LinearObjective):
        return maximize(objective, params, max_iter=max_iter)
    return lbfgs(objective, params, max_iter=max_iter, progress=progress, desc=desc)


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
    n = max(problem.n_total, 1)
    dim = problem.dim
    trace = trace if trace is not None else FitTrace()
    t0 = time.perf_counter()
    objective = make_objective(spec, problem, n)

    minibatches = None
    if batch_groups is not None:
        minibatches = minibatch_objectives(spec, problem, batch_groups, gen)
        optimizer = "adam"

    last_seconds = [0.0]

    def run(p0, desc):
        start = time.perf_counter()
        if optimizer == "lbfgs":
            out = maximize_lbfgs(objective, p0, max_steps, progress=progress, desc=desc)
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

    single_objective = make_objective(single_spec, problem, n)
    # the pooled fit only centres the score vectors: a few iterations give the same k-means partition
    p_single, _, _ = maximize_lbfgs(single_objective, p_single, min(max_steps, POOLED_ITERATIONS))
    comm = problem.comm
    n_groups_all = problem.n_groups if comm is None else problem.n_groups_total
    local = slice(None) if comm is None else problem.global_group
    score = None
    if spec.level == "annotator" and n_groups_all >= spec.n_types:
        score = score_components(group_score_vectors(single_spec, p_single, problem), problem.group_size,
                                 spec.n_types, comm=comm, index=None if comm is None else problem.global_group,
                                 n_total=n_groups_all)
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
            labels = kmeans_init(score, K, seed=int(random_state) * 1000 + restart)
            if any(same_partition(labels, other) for other in seen_starts):
                # the same start would converge to the same optimum: not worth a fit
                trace.restarts.append({"init": "score-kmeans (duplicate start, skipped)", "objective": None,
                                       "iterations": 0, "seconds": 0.0})
                continue
            seen_starts.append(labels)
            resp = np.full((n_groups_all, K), 0.2 / K)
            resp[np.arange(n_groups_all), labels] += 0.8
            how = "score-kmeans"
        else:
            resp = np.random.default_rng(int(random_state) * 1000 + restart).dirichlet(np.ones(K), size=n_groups_all)
            how = "random-responsibilities"
        p0["logits"] = torch.log(torch.as_tensor(resp.mean(0), dtype=problem.dtype, device=problem.device))
        # every rank drew the same responsibilities for all groups; each keeps its own groups'
        resp_t = torch.as_tensor(resp[local], dtype=problem.dtype, device=problem.device)
        m_step = make_objective(spec, problem, n, resp=resp_t)

        # a rough M-step is enough: it only has to put each type near its cluster's optimum
        p0, _, _ = maximize_lbfgs(m_step, p0, min(max_steps, M_STEP_ITERATIONS))
        params, value, iters = run(p0, f"fit (restart {restart + 1}/{n_restarts})")
        trace.restarts.append({"init": how, "objective": value, "iterations": iters, "seconds": last_seconds[0]})
        if best is None or value > best[1]:
            best = (params, value)
    trace.seconds += time.perf_counter() - t0
    return best


"""Inference: MAP (LBFGS on the exact marginal, or Adam through Pyro), SVI, bootstrap ensembles.

Why LBFGS by default: on these smooth, low-curvature objectives full-batch Adam needs
200–1,000 steps where LBFGS reaches the same optimum in tens of iterations (measured in
BASELINES.md). The objective it drives is the model's exact enumerated log joint, the same
number Pyro's ``TraceEnum_ELBO`` computes with an ``AutoDelta`` guide (checked in the tests),
so the fast path is still the Pyro model's MAP estimate.

Mixtures start from a data-driven guess: each annotator's score vector (the gradient of
their log-likelihood at the pooled single-type fit, in embedding space) points towards
their type's reward; k-means on its leading principal components gives initial
responsibilities, one EM M-step turns them into per-type rewards, then LBFGS on the exact
marginal finishes. Several restarts (different k-means seeds) are run and the one with the
highest training objective is kept.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import torch

from . import _engine as E


class FitTrace:
    """What a fit did: objective per restart, iterations, seconds."""

    def __init__(self):
        self.restarts = []  # list of dicts
        self.seconds = 0.0

    def to_dict(self):
        return {"restarts": self.restarts, "seconds": self.seconds}


def _progress(total, desc, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def lbfgs(objective, params: dict, max_iter=500, tol=1e-9, progress=False, desc="fit", chunk=25):
    """Maximise ``objective(params)`` with full-batch LBFGS (strong Wolfe line search).

    ``objective`` returns a scalar tensor (already normalised per observation). Runs in
    chunks of ``chunk`` iterations so that a progress bar can advance; LBFGS keeps its
    curvature history across chunks.
    """
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.LBFGS(list(leaves.values()), lr=1.0, max_iter=chunk, history_size=30,
                            tolerance_grad=1e-7, tolerance_change=tol, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = -objective(leaves)
        loss.backward()
        return loss

    bar = _progress(max_iter, desc, progress)
    done = 0
    while done < max_iter:
        # never run past max_iter (LBFGS counts iterations across chunks)
        opt.param_groups[0]["max_iter"] = min(chunk, max_iter - done)
        opt.step(closure)
        state = opt.state[opt._params[0]]
        n_iter = state.get("n_iter", 0)
        step = n_iter - done
        done = n_iter
        if bar is not None:
            bar.update(step)
        if step < opt.param_groups[0]["max_iter"]:  # converged inside this chunk
            break
    if bar is not None:
        bar.close()
    with torch.no_grad():
        value = float(objective(leaves))
    return {k: v.detach() for k, v in leaves.items()}, value, done


def adam(objective, params: dict, steps=500, lr=0.05, progress=False, desc="fit", minibatches=None):
    """Maximise with Adam; ``minibatches`` is an optional list of sub-problem objectives to cycle."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.Adam(list(leaves.values()), lr=lr)
    bar = _progress(steps, desc, progress)
    for step in range(steps):
        opt.zero_grad()
        fn = objective if minibatches is None else minibatches[step % len(minibatches)]
        loss = -fn(leaves)
        loss.backward()
        opt.step()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    with torch.no_grad():
        value = float(objective(leaves))
    return {k: v.detach() for k, v in leaves.items()}, value, steps


# ---------------------------------------------------------------------- initialisation
def group_score_vectors(spec: E.Spec, params: dict, problem: E.Problem) -> torch.Tensor:
    """(n_groups, d): each group's gradient of its log-likelihood w.r.t. a linear reward, at ``params``.

    Computed from per-slot reward gradients (one autograd pass) and one sparse product, never
    an n_obs x d matrix.
    """
    with torch.no_grad():
        r = E.rewards(spec, params, problem.phi, problem.logp_ref)[:, :1]
    rows, cols, vals = [], [], []
    single = {"tie": params["tie"][:1]} if "tie" in params else {}
    if problem.n_comparisons:
        d = (r[problem.a] - r[problem.b]).clone().requires_grad_(True)
        (g_d,) = torch.autograd.grad(E.pair_loglik(spec, single, d, problem).sum(), [d])
        g = problem.group[: problem.n_comparisons]
        rows += [g, g]
        cols += [problem.a, problem.b]
        vals += [g_d[:, 0], -g_d[:, 0]]
    if problem.rank_items is not None and problem.n_rankings:
        slots = r[problem.rank_safe].clone().requires_grad_(True)  # (R, L, 1)
        (gs,) = torch.autograd.grad(E.ranking_loglik_slots(slots, problem.rank_valid).sum(), [slots])
        gr = problem.group[problem.n_comparisons:]
        valid = problem.rank_valid
        rows.append(gr[:, None].expand_as(problem.rank_safe)[valid])
        cols.append(problem.rank_safe[valid])
        vals.append(gs[..., 0][valid])
    if not rows:
        return problem.phi.new_zeros((problem.n_groups, problem.phi.shape[1]))
    idx = torch.stack([torch.cat(rows), torch.cat(cols)])
    mat = torch.sparse_coo_tensor(idx, torch.cat(vals).detach(), (problem.n_groups, problem.n_responses),
                                  check_invariants=False).coalesce()
    return torch.sparse.mm(mat, problem.phi)


def kmeans_init(scores: torch.Tensor, sizes: torch.Tensor, K: int, seed: int) -> np.ndarray:
    """Initial hard assignment of groups to K types from their score vectors."""
    from sklearn.cluster import KMeans

    s = scores.detach().double().cpu().numpy()
    n = sizes.detach().double().cpu().numpy().clip(min=1.0)
    s = s / np.sqrt(n)[:, None]  # equalise noise across groups of different sizes
    s = s - s.mean(axis=0, keepdims=True)
    n_comp = min(K, s.shape[1], max(s.shape[0] - 1, 1))
    try:
        u, sv, _ = np.linalg.svd(s, full_matrices=False)
        z = u[:, :n_comp] * sv[:n_comp]
    except np.linalg.LinAlgError:
        z = s
    km = KMeans(n_clusters=K, n_init=4, random_state=seed).fit(z)
    return km.labels_


# ---------------------------------------------------------------------- MAP fit
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
        minibatches = _minibatch_objectives(spec, problem, batch_groups, gen)
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
            if any(_same_partition(labels, other) for other in seen_starts):
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


def _same_partition(a, b) -> bool:
    """Whether two labelings define the same partition (up to renaming the labels)."""
    pairs = np.unique(np.stack([a, b], axis=1), axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def _minibatch_objectives(spec, problem, batch_groups, gen):
    """Objectives on random chunks of groups, scaled to the full data (stochastic MAP)."""
    perm = torch.randperm(problem.n_groups, generator=gen).numpy()
    n_chunks = max(1, math.ceil(problem.n_groups / int(batch_groups)))
    chunks = np.array_split(perm, n_chunks)
    n = max(problem.n_obs, 1)
    objectives = []
    for chunk in chunks:
        sub = problem.subset_groups(chunk)
        scale = problem.n_groups / max(len(chunk), 1)

        def objective(p, sub=sub, scale=scale):
            return E.log_joint(spec, p, _regroup(sub), scale=scale) / n

        objectives.append(objective)
    return objectives


def _regroup(sub):
    # groups of a subset are renumbered densely so that the segment sums stay small
    if getattr(sub, "_regrouped", False):
        return sub
    uniq, inv = np.unique(sub.group_np, return_inverse=True)
    sub.group_np = inv
    sub.group = torch.as_tensor(inv, device=sub.device)
    sub.n_groups = len(uniq)
    sub.level = "annotator"
    sub._regrouped = True
    return sub


def order_types(spec: E.Spec, params: dict) -> dict:
    """Types sorted by decreasing weight (label switching made canonical)."""
    if spec.n_types == 1:
        return params
    order = torch.argsort(params["logits"], descending=True)
    out = {}
    for name, value in params.items():
        out[name] = value[order] if value.ndim >= 1 and value.shape[0] == spec.n_types else value
    return out


# ---------------------------------------------------------------------- SVI
def fit_svi(spec: E.Spec, problem: E.Problem, init_params: dict, *, guide="normal", steps=1000, lr=0.01,
            progress=False, jit=False, random_state=0, rank=None):
    """Variational posterior over the continuous parameters (types enumerated), initialised at MAP."""
    import pyro
    from pyro import poutine
    from pyro.infer import SVI, JitTrace_ELBO, JitTraceEnum_ELBO, Trace_ELBO, TraceEnum_ELBO
    from pyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoNormal, init_to_value

    pyro.set_rng_seed(int(random_state))
    pyro.clear_param_store()
    model = E.pyro_model(spec, problem)
    blocked = poutine.block(model, expose=E.continuous_sites(spec, problem.phi.shape[1]))
    values = E.params_to_sites(spec, init_params)
    init = init_to_value(values=values)
    if guide == "normal":
        g = AutoNormal(blocked, init_loc_fn=init, init_scale=0.01)
    elif guide == "lowrank":
        g = AutoLowRankMultivariateNormal(blocked, init_loc_fn=init, init_scale=0.01, rank=rank)
    else:
        raise ValueError(f"guide: got {guide!r}, expected 'normal' or 'lowrank'")
    if spec.n_types > 1:
        elbo_cls = JitTraceEnum_ELBO if jit else TraceEnum_ELBO
    else:  # nothing to enumerate
        elbo_cls = JitTrace_ELBO if jit else Trace_ELBO
    elbo = elbo_cls(max_plate_nesting=1, ignore_jit_warnings=True) if jit else elbo_cls(max_plate_nesting=1)
    svi = SVI(model, g, pyro.optim.ClippedAdam({"lr": lr}), elbo)
    bar = _progress(steps, "svi", progress)
    scale = max(problem.n_obs, 1)
    losses = []
    with warnings.catch_warnings():
        # Pyro's JIT path traces with torch.jit.trace, which torch now flags as deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        for step in range(steps):
            losses.append(svi.step() / scale)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    with torch.no_grad():
        median = {k: v.detach() for k, v in g.median().items()}
    return g, E.sites_to_params(spec, median), losses


def guide_samples(spec: E.Spec, guide, n: int, random_state=0) -> list:
    """``n`` parameter dicts drawn from a fitted autoguide."""
    import pyro

    pyro.set_rng_seed(int(random_state))
    out = []
    with torch.no_grad():
        for _ in range(n):
            out.append(E.sites_to_params(spec, {k: v.detach() for k, v in guide().items()}))
    return out

"""SVI: a variational posterior over the continuous parameters (types enumerated), started at MAP."""

from __future__ import annotations

import warnings

import torch

from .. import _engine as E
from .optimizers import progress_bar


def fit_svi(spec: E.Spec, problem: E.Problem, init_params: dict, *, guide="normal", steps=1000, lr=0.01,
            progress=False, jit=False, random_state=0, rank=None, batch_groups=None):
    """Variational posterior over the continuous parameters (types enumerated), initialised at MAP.

    ``batch_groups``: stochastic VI (Hoffman et al. 2013) on minibatches of that many groups
    (annotators) per step (:func:`.batching.group_batches`: seeded by ``random_state``, each
    step's ELBO an unbiased estimate of the full-data ELBO); None: every observation at every
    step. Returns the guide, its medians as parameters and the loss per observation of each step.
    """
    import pyro
    from pyro import poutine
    from pyro.infer import SVI, JitTrace_ELBO, JitTraceEnum_ELBO, Trace_ELBO, TraceEnum_ELBO
    from pyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoNormal, init_to_value

    pyro.set_rng_seed(int(random_state))
    pyro.clear_param_store()
    # a shard of a distributed fit: global sites scaled 1/P on each rank, gradients summed (distributed.svi)
    comm = getattr(problem, "comm", None)
    world = 1 if comm is None else comm.world_size
    model = E.pyro_model(spec, problem, global_scale=1.0 / world)
    blocked = poutine.block(model, expose=E.continuous_sites(spec, problem.dim))
    values = E.params_to_sites(spec, init_params)
    init = init_to_value(values=values)
    if guide == "normal":
        g = AutoNormal(blocked, init_loc_fn=init, init_scale=0.01)
    elif guide == "lowrank":
        g = AutoLowRankMultivariateNormal(blocked, init_loc_fn=init, init_scale=0.01, rank=rank)
    else:
        raise ValueError(f"guide: got {guide!r}, expected 'normal' or 'lowrank'")
    batches = None
    if batch_groups is not None:
        from .batching import group_batches

        batches = group_batches(problem, int(batch_groups), random_state)
        if jit:
            # a batch's shapes change from step to step: the compiled ELBO would be traced anew each time
            warnings.warn("jit=True is ignored with minibatch SVI (batch_size or memory_budget)", UserWarning,
                          stacklevel=3)
            jit = False
    first = () if batches is None else (next(batches),)
    if spec.n_types > 1:
        elbo_cls = JitTraceEnum_ELBO if jit else TraceEnum_ELBO
    else:  # nothing to enumerate
        elbo_cls = JitTrace_ELBO if jit else Trace_ELBO
    elbo = elbo_cls(max_plate_nesting=1, ignore_jit_warnings=True) if jit else elbo_cls(max_plate_nesting=1)
    optim = pyro.optim.ClippedAdam({"lr": lr})
    if comm is None:
        step = SVI(model, g, optim, elbo).step
    else:
        from ...distributed.svi import reduced_step, scaled_guide

        shard_guide = scaled_guide(g, world)

        def step(*args):
            return reduced_step(elbo, model, shard_guide, optim, comm, *args)
    with torch.no_grad():
        # the guide's set-up traces the model, drawing one type per group (as many draws as this
        # process holds groups); seeding after it gives every rank of a distributed fit, and one
        # process, the same noise at every step. With minibatches it traces the first batch only
        g(*first)
    pyro.set_rng_seed(int(random_state))
    bar = progress_bar(steps, "svi", progress)
    scale = max(problem.n_total, 1)
    losses = []
    with warnings.catch_warnings():
        # Pyro's JIT path traces with torch.jit.trace, which torch now flags as deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        for i in range(steps):
            args = first if (batches is None or i == 0) else (next(batches),)
            losses.append(step(*args) / scale)
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


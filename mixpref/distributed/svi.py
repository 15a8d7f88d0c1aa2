"""Distributed SVI: each rank's ELBO on its shard, the gradients summed over ranks before every step.

The guide's parameters are global (reward parameters, tie, alpha, weights); the discrete
types are enumerated inside each rank's groups. Each rank's model and guide scale the
global sites by ``1 / P`` (``pyro_model(global_scale=...)``), so the sum over ranks of the
local losses is the full-data ELBO loss: the prior and the guide's entropy counted once,
every group's data once. Every rank seeds Pyro alike and starts from the same (MAP)
parameters, so the guide draws the same noise on every rank and, after the all-reduce,
takes the same optimiser step: the guide parameters stay equal on all ranks and equal a
one-process fit's up to the order of floating-point sums.

Minibatch SVI is distributed the same way: every rank draws the same batch of groups from
all ranks' groups (the same seed) and keeps the ones it holds; the plate's scale counts
all ranks' groups over the whole batch's size, so the summed loss is the one-process
minibatch loss, an unbiased estimate of the full-data ELBO, and the number of steps is the
same on every rank.
"""

from __future__ import annotations

import torch

from .objective import sum_value_and_grads


def scaled_guide(guide, world_size: int):
    """``guide`` with its log densities scaled by ``1 / world_size`` (each rank's share of the entropy)."""
    from pyro import poutine

    return poutine.scale(guide, scale=1.0 / world_size)


def reduced_step(elbo, model, guide, optim, comm, *args) -> float:
    """One SVI step on the full-data ELBO: local loss and gradients, summed over ranks, then ``optim``.

    What ``pyro.infer.SVI.step(*args)`` does, with an all-reduce between the gradients and
    the update. Returns the full-data loss (the same number on every rank). ``args``: the
    model's minibatch (this rank's part of a batch drawn alike on every rank), if any.
    """
    from pyro import poutine
    from pyro.infer.util import zero_grads

    with poutine.trace(param_only=True) as capture:
        loss = elbo.loss_and_grads(model, guide, *args)
    # the same parameter names on every rank (one guide over the global sites): a fixed order for the sum
    names = sorted(capture.trace.nodes)
    params = [capture.trace.nodes[name]["value"].unconstrained() for name in names]
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
    total, summed = sum_value_and_grads(comm, float(loss), grads)
    for p, g in zip(params, summed):
        p.grad = g.to(p.dtype).clone()
    optim(params)
    zero_grads(params)
    return float(total)

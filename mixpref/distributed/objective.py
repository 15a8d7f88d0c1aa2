"""The MAP objective of a sharded problem: each rank's data term and gradient summed over ranks.

Annotators never straddle ranks, so the exact marginal (a sum over annotators of a
logsumexp over types) is a sum of per-rank terms. :class:`AllReduced` computes this rank's
term and its gradient with autograd, sums both over ranks in one all-reduce, and hands
the optimiser a scalar whose gradient is the full-data gradient: LBFGS on every rank sees
the exact full-batch objective and takes the same steps.
"""

from __future__ import annotations

import torch

from ..models import _engine as E


def sum_value_and_grads(comm, value, grads):
    """``(value, grads)`` summed over ranks in one all-reduce (in the first gradient's dtype); a fixed order."""
    dtype, device = grads[0].dtype, grads[0].device
    flat = torch.cat([torch.as_tensor(value, dtype=dtype, device=device).detach().reshape(1)]
                     + [g.detach().reshape(-1).to(dtype) for g in grads])
    flat = comm.sum_tensor(flat)
    parts = torch.split(flat[1:], [g.numel() for g in grads])
    return flat[0], [part.view_as(g) for part, g in zip(parts, grads)]


class AllReduced(torch.autograd.Function):
    """``sum over ranks of fn(params)`` with its gradient (one all-reduce of value and gradient)."""

    @staticmethod
    def forward(ctx, comm, fn, names, *leaves):
        with torch.enable_grad():
            local = [v.detach().requires_grad_(True) for v in leaves]
            value = fn(dict(zip(names, local)))
            value = torch.as_tensor(value, dtype=leaves[0].dtype, device=leaves[0].device)
            if value.requires_grad:
                grads = torch.autograd.grad(value, local, allow_unused=True)
            else:  # an empty shard: its term is a constant zero
                grads = [None] * len(local)
        grads = [torch.zeros_like(v) if g is None else g for g, v in zip(grads, local)]
        total, ctx.grads = sum_value_and_grads(comm, value, grads)
        return total.clone()

    @staticmethod
    def backward(ctx, grad):
        return (None, None, None, *[grad * g for g in ctx.grads])


def local_marginal(spec, problem, resp=None):
    """This rank's data term: sum over its groups of the marginal (or EM's term for fixed ``resp``)."""

    def fn(p):
        gll = E.group_loglik(E.obs_loglik(spec, p, problem), problem)
        lw = E.log_weights(spec, p, gll)
        if resp is None:
            return torch.logsumexp(gll + lw, dim=1).sum()
        return (resp * (gll + lw)).sum()

    return fn


def reduced_objective(spec, problem, n, resp=None, data_scale=1.0, term=None):
    """``(log prior + data_scale * sum over ranks of the data term) / n`` as a differentiable function of params."""
    term = term if term is not None else local_marginal(spec, problem, resp)
    comm = problem.comm

    def objective(p):
        names = list(p)
        total = AllReduced.apply(comm, term, names, *[p[k] for k in names])
        return (E.log_prior(spec, p) + data_scale * total) / n

    return objective

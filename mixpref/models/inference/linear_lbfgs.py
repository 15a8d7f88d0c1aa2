"""LBFGS that uses the linear structure of the objective: one pass over the features per iteration.

With linear rewards every objective of a fit has the form

    f(params) = (log prior(params) + scale * sum over ranks of data(params, Z)) / n,   Z = X @ theta.T

where X is the design matrix (difference vectors or response features; in memory, streamed
from a memory map, or one rank's shard) and ``data`` touches only the small (n, K) matrix Z
and the non-reward parameters. Along a search direction ``p``, ``Z(t) = Z + t X p_theta.T``:
after one product ``X p_theta.T`` the line search evaluates f and its derivative at any
step from (n, K) arithmetic alone, and the gradient at the accepted point costs one product
``G.T @ X``. Each iteration therefore reads X twice (once forward, once backward) where
``torch.optim.LBFGS`` with a strong-Wolfe search reads it two to four times per trial step.
Same algorithm otherwise (two-loop recursion, history 30, torch's strong-Wolfe search with
cubic interpolation, the same stopping rules), and no ``torch.optim.Optimizer`` object,
whose construction imports torch._dynamo (2-4 s) on the first fit of a process.
"""

from __future__ import annotations

import torch
from torch.optim.lbfgs import _strong_wolfe  # torch's own line search, used as torch.optim.LBFGS does

from .. import _engine as E
from .._rows import RowSource


def _gtx(grad, x, out, sub=2048):
    # in cache-sized row blocks: measured 1.5x faster than one grad.T @ x on CPU (a skinny GEMM)
    if x.device.type != "cpu":
        return out.add_(grad.T @ x)
    for start in range(0, x.shape[0], sub):
        out.addmm_(grad[start:start + sub].T, x[start:start + sub])
    return out


def _xt_times(x, grad: torch.Tensor) -> torch.Tensor:
    """``grad.T @ x`` (K, d) for a tensor or a RowSource, in row blocks (bounded temporaries)."""
    out = torch.zeros((grad.shape[1], x.dim if isinstance(x, RowSource) else x.shape[1]), dtype=grad.dtype,
                      device=grad.device)
    if isinstance(x, RowSource):
        for start, stop in x.ranges():
            _gtx(grad[start:stop], x.block(start, stop).to(grad.dtype), out)
        return out
    return _gtx(grad, x.to(grad.dtype), out)


def _x_times(x, theta: torch.Tensor) -> torch.Tensor:
    if isinstance(x, RowSource):
        out = torch.empty((x.n_rows, theta.shape[0]), dtype=theta.dtype, device=theta.device)
        for start, stop in x.ranges():
            out[start:stop] = x.block(start, stop).to(theta.dtype) @ theta.T
        return out
    return x @ theta.T


class LinearObjective:
    """``f(params)`` of the module docstring; also callable as an ordinary objective ``f(params) -> tensor``."""

    def __init__(self, spec, problem, n, data, scale=1.0):
        self.spec, self.problem, self.n, self.data, self.scale = spec, problem, float(n), data, float(scale)
        self.x = E.design(spec, problem)
        self.comm = getattr(problem, "comm", None)

    def _sum(self, flat):
        return flat if self.comm is None else self.comm.sum_tensor(flat)

    def z(self, theta):
        with torch.no_grad():
            return _x_times(self.x, theta.detach())

    def __call__(self, params):
        """The objective as a differentiable function of ``params`` (for Adam and checks)."""
        from ...distributed.objective import AllReduced

        def term(p):
            return self.data(p, E.linear(self.x, p["theta"]))

        if self.comm is None:
            total = term(params)
        else:
            names = list(params)
            total = AllReduced.apply(self.comm, term, names, *[params[k] for k in names])
        return (E.log_prior(self.spec, params) + self.scale * total) / self.n

    def value(self, params) -> float:
        """f at ``params`` (one forward pass over X)."""
        with torch.no_grad():
            v = self._sum(torch.as_tensor(self.data(params, self.z(params["theta"]))).reshape(1))
            return (float(torch.as_tensor(E.log_prior(self.spec, params))) + self.scale * float(v[0])) / self.n

    def value_grad(self, params, z):
        """(f, {name: df/dparam}) at ``params`` with ``z = X @ theta.T``: one backward pass over X."""
        names = list(params)
        with torch.enable_grad():
            leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
            zr = z.detach().requires_grad_(True)
            value = self.data(leaves, zr)
            others = [k for k in names if k != "theta"]
            grads = torch.autograd.grad(value, [zr] + [leaves[k] for k in others], allow_unused=True)
        g = {"theta": _xt_times(self.x, grads[0]) if grads[0] is not None else torch.zeros_like(params["theta"])}
        for k, gk in zip(others, grads[1:]):
            g[k] = torch.zeros_like(params[k]) if gk is None else gk
        flat = self._sum(torch.cat([value.detach().reshape(1)] + [g[k].reshape(-1) for k in names]))
        value, parts = flat[0], torch.split(flat[1:], [params[k].numel() for k in names])
        with torch.enable_grad():
            prior = E.log_prior(self.spec, leaves)
            prior = torch.as_tensor(prior, dtype=value.dtype, device=value.device)
            pg = torch.autograd.grad(prior, [leaves[k] for k in names], allow_unused=True) if prior.requires_grad else [None] * len(names)
        total = (prior.detach() + self.scale * value) / self.n
        grad = {}
        for k, part, gp in zip(names, parts, pg):
            gk = self.scale * part.view_as(params[k])
            grad[k] = (gk if gp is None else gk + gp) / self.n
        return total, grad

    def along(self, params, direction, z, zp):
        """phi(t) = f(params + t direction) and phi'(t), from ``z`` and ``zp = X @ direction_theta.T`` only."""

        def phi(t):
            with torch.enable_grad():
                tt = torch.tensor(float(t), dtype=z.dtype, device=z.device, requires_grad=True)
                p = {k: params[k] + tt * direction[k] for k in params}
                value = self.data(p, z + tt * zp)
                (dv,) = torch.autograd.grad(value, [tt], allow_unused=True, retain_graph=True)
                dv = torch.zeros_like(tt) if dv is None else dv
                flat = self._sum(torch.stack([value.detach(), dv.detach()]))
                prior = torch.as_tensor(E.log_prior(self.spec, p), dtype=z.dtype, device=z.device)
                (dp,) = torch.autograd.grad(prior, [tt], allow_unused=True) if prior.requires_grad else (None,)
            dp = 0.0 if dp is None else float(dp)
            return (float(prior.detach()) + self.scale * float(flat[0])) / self.n, (dp + self.scale * float(flat[1])) / self.n

        return phi


def maximize(objective: LinearObjective, params: dict, max_iter=500, tolerance_grad=1e-7, tolerance_change=1e-9,
             history_size=30):
    """Maximise ``objective`` by LBFGS (torch.optim.LBFGS's algorithm and stopping rules); returns (params, value, iterations)."""
    names = list(params)
    shapes = [params[k].shape for k in names]
    sizes = [params[k].numel() for k in names]
    dtype = params["theta"].dtype

    def flat(d):
        return torch.cat([d[k].reshape(-1).to(dtype) for k in names])

    def unflat(v):
        return {k: part.view(shape) for k, part, shape in zip(names, torch.split(v, sizes), shapes)}

    x = flat({k: v.detach() for k, v in params.items()})
    p = unflat(x)
    z = objective.z(p["theta"])
    value, grad = objective.value_grad(p, z)
    loss, g = -float(value), -flat(grad)
    n_iter = 0
    if g.abs().max() <= tolerance_grad or max_iter <= 0:
        return p, float(value), 0
    old_dirs, old_steps, ro = [], [], []
    h_diag = 1.0
    d = prev_g = None
    t = 0.0
    while n_iter < max_iter:
        n_iter += 1
        if n_iter == 1:
            d = -g
        else:
            y = g - prev_g
            s = d * t
            ys = float(y.dot(s))
            if ys > 1e-10:
                if len(old_dirs) == history_size:
                    old_dirs.pop(0), old_steps.pop(0), ro.pop(0)
                old_dirs.append(y)
                old_steps.append(s)
                ro.append(1.0 / ys)
                h_diag = ys / float(y.dot(y))
            q = -g
            al = [0.0] * len(old_dirs)
            for i in range(len(old_dirs) - 1, -1, -1):
                al[i] = float(old_steps[i].dot(q)) * ro[i]
                q = q - al[i] * old_dirs[i]
            d = q * h_diag
            for i in range(len(old_dirs)):
                be_i = float(old_dirs[i].dot(d)) * ro[i]
                d = d + old_steps[i] * (al[i] - be_i)
        prev_g, prev_loss = g.clone(), loss
        t = min(1.0, 1.0 / float(g.abs().sum())) if n_iter == 1 else 1.0
        gtd = float(g.dot(d))
        if gtd > -tolerance_change:
            n_iter -= 1
            break
        direction = unflat(d)
        zp = objective.z(direction["theta"])
        phi = objective.along(p, direction, z, zp)
        dd = float(d.dot(d))

        def obj_func(_x, step, _d, phi=phi, dd=dd, d=d):
            # _strong_wolfe reads the gradient only through its dot product with d: hand it
            # a vector with the right projection (the full gradient would cost a pass over X)
            f, df = phi(step)
            return -f, (-df / dd) * d

        loss, _, t, _ = _strong_wolfe(obj_func, x, t, d, loss, g, gtd, tolerance_change=tolerance_change)
        x = x + t * d
        p = unflat(x)
        # re-anchor Z on the features now and then so float error cannot accumulate
        z = objective.z(p["theta"]) if n_iter % 25 == 0 else z + t * zp
        value, grad = objective.value_grad(p, z)
        loss, g = -float(value), -flat(grad)
        if n_iter == max_iter or g.abs().max() <= tolerance_grad:
            break
        if (d * t).abs().max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
            break
    return {k: v.detach().clone() for k, v in p.items()}, objective.value(p), n_iter

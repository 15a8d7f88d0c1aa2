"""The likelihood of the low-rank person model: K basis rewards, one weight vector per group.

Annotator (group) g has weights ``u_g`` (K,) and reward ``r_g = sum_k u_gk r_k`` where the
basis rewards ``r_k`` are the per-type rewards of :mod:`._engine` (linear or MLP, BT or
policy-likelihood). Reward differences of every observation are formed once per basis
(``(N, K)``) and contracted with the observation's weights (or with a set of weight atoms,
``(N, M)``), so the cost stays O(N K) and the shared ``pair_loglik`` / ``ranking_loglik_slots``
give ties (Davidson) and rankings (Plackett–Luce) as in the other models. ``weights="simplex"``:
``u_g = softmax(eta_g)`` with a symmetric Dirichlet prior; ``"free"``: ``u_g ~ N(mu, s^2 I)``
with ``mu`` learned (flat prior). :func:`pyro_model` is the same model in Pyro; the MAP
objective :func:`log_joint` equals its ELBO with an AutoDelta guide (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from . import _engine as E

WEIGHTS = ("simplex", "free")


@dataclass
class LowRankSpec:
    """The basis spec (``n_types`` = rank) and how the per-group weights are modelled."""

    basis: E.Spec
    weights: str = "simplex"
    concentration: float = 1.0
    weight_scale: float = 1.0

    @property
    def rank(self) -> int:
        return self.basis.n_types


def basis_shapes(lr: LowRankSpec, dim: int) -> dict:
    shapes = {k: v for k, v in E.param_shapes(lr.basis, dim).items() if k != "logits"}
    if "tie" in shapes:
        shapes["tie"] = (1,)  # one tie parameter shared by every person
    return shapes


def group_weights(lr: LowRankSpec, params: dict) -> torch.Tensor:
    """(G, K) weight vectors of the groups."""
    if lr.weights == "simplex":
        return torch.softmax(params["eta"], dim=1)
    return params["u"]


def basis_rewards(lr: LowRankSpec, params: dict, phi, logp_ref=None) -> torch.Tensor:
    """(n, K) basis rewards."""
    return E.rewards(lr.basis, params, phi, logp_ref)


def reward_parts(lr, params, problem):
    """The basis reward differences of the comparisons (n_comparisons, K) and the rankings' slots (or None)."""
    r = basis_rewards(lr, params, problem.phi, problem.logp_ref)
    # the policy-likelihood normaliser cancels within a prompt (pairs and rankings alike): left out
    D = r.index_select(0, problem.a) - r.index_select(0, problem.b) if problem.n_comparisons else r.new_zeros((0, r.shape[1]))
    S = r[problem.rank_safe] if problem.rank_items is not None and problem.n_rankings else None
    return D, S


def obs_loglik_weights(lr: LowRankSpec, params: dict, problem, W: torch.Tensor) -> torch.Tensor:
    """(n_obs,) log-likelihood of each observation under its own weights ``W`` (n_obs, K)."""
    D, S = reward_parts(lr, params, problem)
    nc = problem.n_comparisons
    parts = []
    if nc:
        d = (D * W[:nc]).sum(1, keepdim=True)
        parts.append(E.pair_loglik(lr.basis, params, d, problem)[:, 0])
    if S is not None:
        slots = (S * W[nc:, None, :]).sum(-1, keepdim=True)
        parts.append(E.ranking_loglik_slots(slots, problem.rank_valid)[:, 0])
    return torch.cat(parts) if len(parts) > 1 else (parts[0] if parts else W.new_zeros(0))


def obs_loglik_atoms(lr: LowRankSpec, params: dict, problem, atoms: torch.Tensor, parts=None) -> torch.Tensor:
    """(n_obs, M) log-likelihood of each observation under each weight vector of ``atoms`` (M, K).

    ``parts``: the problem's basis reward differences and ranking slots ``(D, S)``, when the
    caller has formed them already (for chunks of a larger problem).
    """
    D, S = reward_parts(lr, params, problem) if parts is None else parts
    parts = []
    if problem.n_comparisons:
        parts.append(E.pair_loglik(lr.basis, params, D @ atoms.T, problem))
    if S is not None:
        parts.append(E.ranking_loglik_slots(S @ atoms.T, problem.rank_valid))
    return torch.cat(parts) if len(parts) > 1 else (parts[0] if parts else atoms.new_zeros((0, atoms.shape[0])))


def weights_log_prior(lr: LowRankSpec, params: dict) -> torch.Tensor:
    """log density of the group weights (Dirichlet on the simplex, or Normal around ``mu``)."""
    if lr.weights == "simplex":
        c, K = float(lr.concentration), lr.rank
        logu = torch.log_softmax(params["eta"], dim=1)
        G = logu.shape[0]
        return (c - 1) * logu.sum() + G * (math.lgamma(c * K) - K * math.lgamma(c))
    u, mu, s = params["u"], params["mu"], float(lr.weight_scale)
    z = (u - mu) / s
    return -0.5 * (z * z).sum() - u.numel() * (math.log(s) + 0.5 * math.log(2 * math.pi))


def log_joint(lr: LowRankSpec, params: dict, problem, scale: float = 1.0) -> torch.Tensor:
    """Exact log p(params, data): the MAP objective."""
    W = group_weights(lr, params).index_select(0, problem.group)
    ll = obs_loglik_weights(lr, params, problem, W).sum()
    prior = E.log_prior(replace(lr.basis, n_types=1), params)
    return prior + weights_log_prior(lr, params) + scale * ll


# ---------------------------------------------------------------------- Pyro
def weight_site_values(lr: LowRankSpec, params: dict) -> dict:
    """Pyro site values (constrained) for ``params``."""
    out = {k: v.detach() for k, v in params.items() if k not in ("eta",)}
    if lr.weights == "simplex":
        out["u"] = torch.softmax(params["eta"].detach(), dim=1)
    return out


def sites_to_params(lr: LowRankSpec, values: dict) -> dict:
    out = {k: v.detach() for k, v in values.items()}
    if lr.weights == "simplex":
        out["eta"] = torch.log(out.pop("u").clamp_min(1e-30))
    return out


def pyro_model(lr: LowRankSpec, problem, n_groups: int):
    """The generative model in Pyro: basis parameters, per-group weights, observations."""
    import pyro
    import pyro.distributions as dist
    from pyro.distributions import constraints

    shapes = basis_shapes(lr, problem.phi.shape[1])
    dev, dt, K = problem.device, problem.dtype, lr.rank

    def model():
        params = {}
        for name, shape in shapes.items():
            if name in E.REWARD_PARAMS and lr.basis.prior_scale is not None:
                d = dist.Normal(torch.zeros(shape, device=dev, dtype=dt), float(lr.basis.prior_scale)).to_event(len(shape))
            else:
                d = dist.ImproperUniform(constraints.real, (), shape)
            params[name] = pyro.sample(name, d)
        if lr.weights == "free":
            mu = pyro.sample("mu", dist.ImproperUniform(constraints.real, (), (K,)))
        with pyro.plate("groups", n_groups):
            if lr.weights == "simplex":
                u = pyro.sample("u", dist.Dirichlet(torch.full((K,), float(lr.concentration), device=dev, dtype=dt)))
            else:
                u = pyro.sample("u", dist.Normal(mu, float(lr.weight_scale)).to_event(1))
        W = u.index_select(0, problem.group)
        pyro.factor("obs", obs_loglik_weights(lr, params, problem, W).sum())

    return model


def site_names(lr: LowRankSpec, dim: int) -> list:
    return list(basis_shapes(lr, dim)) + (["mu"] if lr.weights == "free" else []) + ["u"]


def pyro_map_loss(lr: LowRankSpec, params: dict, problem) -> float:
    """Pyro's Trace_ELBO loss with an AutoDelta guide at ``params`` (equals ``-log_joint``)."""
    import pyro
    from pyro.infer import Trace_ELBO
    from pyro.infer.autoguide import AutoDelta, init_to_value

    pyro.clear_param_store()
    n_groups = group_weights(lr, params).shape[0]
    model = pyro_model(lr, problem, n_groups)
    guide = AutoDelta(model, init_loc_fn=init_to_value(values=weight_site_values(lr, params)))
    with torch.no_grad():
        return float(Trace_ELBO().loss(model, guide))

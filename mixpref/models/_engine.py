"""The vectorised likelihood shared by every model (single and mixture, BT and policy-likelihood).

One function computes, for every observation and every type, the log-likelihood under that
type's reward: an ``(n_observations, K)`` matrix, built either from one ``(n_responses, K)``
reward matrix by gathering (responses shared by many comparisons: O(n_responses * d * K)) or
from the comparisons' difference matrix (fresh responses: O(n_comparisons * d * K), half the
rows); the problem picks (``Problem.formulation``). The mixture marginal is a segment sum over groups
(annotators, or single observations) followed by a logsumexp over types. The same functions
feed the Pyro model (:func:`pyro_model`), so the fast MAP path and Pyro's enumerated ELBO
compute the same number (a test checks it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..errors import DataError
from ._problem import Problem
from ._rows import RowSource, linear


@dataclass
class Spec:
    """Resolved model structure (what is learned), independent of the data."""

    kind: str = "bt"  # "bt" | "pl"
    reward: str = "linear"  # "linear" | "mlp"
    hidden: int = 64
    prior_scale: float | None = 1.0  # None: flat prior on the reward parameters
    ties: str = "bt"  # "bt" (ties as half a win each) | "davidson"
    beta: float = 1.0
    alpha: object = 0.0  # "learn" or a fixed float (policy-likelihood only)
    n_types: int = 1
    level: str = "annotator"  # "annotator" | "observation"
    concentration: float = 1.0  # symmetric Dirichlet on the type weights
    type_scale: float | None = None  # shrinkage: sd of each type's deviation from pooled parameters (_shrinkage_prior)

    def to_dict(self):
        return asdict(self)

    @property
    def learns_alpha(self) -> bool:
        return self.kind == "pl" and self.alpha == "learn"


# ---------------------------------------------------------------------- parameters
def param_shapes(spec: Spec, dim: int) -> dict:
    K = spec.n_types
    shapes = {}
    if spec.reward == "linear":
        shapes["theta"] = (K, dim)
    elif spec.reward == "mlp":
        shapes.update(w1=(K, dim, spec.hidden), b1=(K, spec.hidden), w2=(K, spec.hidden))
    else:
        raise DataError(f"reward: got {spec.reward!r}, expected 'linear' or 'mlp'")
    if spec.ties == "davidson":
        shapes["tie"] = (K,)
    if spec.learns_alpha:
        shapes["alpha"] = (K,)
    if K > 1:
        shapes["logits"] = (K,)
    return shapes


REWARD_PARAMS = ("theta", "w1", "b1", "w2")


def init_params(spec: Spec, dim: int, generator: torch.Generator, device, dtype, scale=0.01) -> dict:
    params = {}
    for name, shape in param_shapes(spec, dim).items():
        if name == "w1":
            value = torch.randn(shape, generator=generator, dtype=torch.float64) / math.sqrt(dim)
        elif name == "w2":
            value = torch.randn(shape, generator=generator, dtype=torch.float64) / math.sqrt(spec.hidden)
        elif name == "theta":
            value = scale * torch.randn(shape, generator=generator, dtype=torch.float64)
        elif name == "tie":
            value = torch.full(shape, -1.0, dtype=torch.float64)
        elif name == "alpha":
            value = torch.ones(shape, dtype=torch.float64)
        else:
            value = torch.zeros(shape, dtype=torch.float64)
        params[name] = value.to(device=device, dtype=dtype)
    return params


def scores(spec: Spec, params: dict, phi: torch.Tensor) -> torch.Tensor:
    """f_theta(phi) for every type: (n, K); ``phi`` may be a streamed RowSource (linear reward)."""
    if spec.reward == "linear":
        return linear(phi, params["theta"])
    if isinstance(phi, RowSource):  # a non-linear reward needs the rows themselves
        phi = phi.materialize()
    hidden = F.gelu(torch.einsum("nd,kdh->knh", phi, params["w1"]) + params["b1"][:, None, :])
    return torch.einsum("knh,kh->nk", hidden, params["w2"])


def rewards(spec: Spec, params: dict, phi: torch.Tensor, logp_ref=None, z=None) -> torch.Tensor:
    """Per-type rewards (n, K); for the policy-likelihood model, unnormalised log-policy.

    ``z``: the scores ``phi @ theta.T`` when already computed (the linear-structure optimiser).
    """
    r = scores(spec, params, phi) if z is None else z
    if spec.kind == "pl":
        r = r / spec.beta
        if logp_ref is not None:
            alpha = params["alpha"] if spec.learns_alpha else torch.as_tensor(float(spec.alpha), dtype=r.dtype, device=r.device)
            r = r + logp_ref[:, None] * alpha
    return r


def segment_logsumexp(values: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """logsumexp of ``values`` (n, K) within each segment -> (n_segments, K)."""
    K = values.shape[1]
    idx = segment[:, None].expand(-1, K)
    mx = torch.full((n_segments, K), -torch.inf, dtype=values.dtype, device=values.device)
    mx = mx.scatter_reduce(0, idx, values.detach(), reduce="amax", include_self=True)
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    s = torch.zeros((n_segments, K), dtype=values.dtype, device=values.device).index_add(0, segment, torch.exp(values - mx[segment]))
    return torch.log(s) + mx


def log_normalizer(spec: Spec, r: torch.Tensor, problem: Problem) -> torch.Tensor:
    """log Z(x) for every prompt and type: (n_prompts, K)."""
    return segment_logsumexp(r, problem.response_prompt, problem.n_prompts)


def comparison_loglik(spec: Spec, params: dict, r: torch.Tensor, problem: Problem, logz=None) -> torch.Tensor:
    """(n_comparisons, K) log-likelihood of each comparison under each type."""
    if problem.n_comparisons == 0:
        return r.new_zeros((0, r.shape[1]))
    # index_select: its backward is an index_add, about twice as fast on CPU as advanced indexing
    ra, rb = r.index_select(0, problem.a), r.index_select(0, problem.b)
    if logz is not None:
        # the policy-likelihood reward log pi(y|x) = r - log Z(x): written out per comparison so
        # that the normaliser's gradient is exactly zero (it appears once with each sign)
        z = logz.index_select(0, problem.comparison_prompt)
        d = (ra - z) - (rb - z)
    else:
        d = ra - rb
    return pair_loglik(spec, params, d, problem)


def pair_loglik(spec: Spec, params: dict, d: torch.Tensor, problem) -> torch.Tensor:
    """Log-likelihood of each comparison's label given reward differences ``d = r_a - r_b`` (N, K)."""
    if spec.ties == "davidson":
        # Davidson (1970): P(a) ∝ e^{r_a}, P(b) ∝ e^{r_b}, P(tie) ∝ nu sqrt(e^{r_a} e^{r_b})
        log_nu = params["tie"][: d.shape[1]]
        half = 0.5 * d
        denom = torch.logsumexp(torch.stack([half, -half, log_nu.expand_as(d)], dim=0), dim=0)
        tie = problem.is_tie[:, None]
        return torch.where(tie, log_nu.expand_as(d), problem.sign[:, None] * half) - denom
    if not problem.has_ties:
        return F.logsigmoid(problem.sign[:, None] * d)
    y = problem.y[:, None]
    return y * F.logsigmoid(d) + (1 - y) * F.logsigmoid(-d)


def ranking_loglik(r: torch.Tensor, problem: Problem) -> torch.Tensor:
    """(n_rankings, K) Plackett–Luce log-likelihood of each ranking (best first) under each type."""
    if problem.rank_items is None or problem.n_rankings == 0:
        return r.new_zeros((0, r.shape[1]))
    return ranking_loglik_slots(r[problem.rank_safe], problem.rank_valid)


def ranking_loglik_slots(vals: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Plackett–Luce log-likelihood from the rewards of each ranking's slots (R, L, K), best first."""
    valid = valid[..., None]
    vals = torch.where(valid, vals, torch.full_like(vals, -1e30))
    # log of the sum over the items still unranked at each position
    tail = torch.flip(torch.logcumsumexp(torch.flip(vals, dims=[1]), dim=1), dims=[1])
    terms = torch.where(valid, vals - tail, torch.zeros_like(vals))
    return terms.sum(dim=1)


def design(spec: Spec, problem: Problem):
    """The matrix X with the likelihood a function of ``X @ theta.T`` (linear rewards), else None.

    The difference matrix (``"diff"`` formulation) or the used responses' features
    (``"gather"``); a tensor or a streamed RowSource.
    """
    if spec.reward != "linear":
        return None
    return problem.diff if problem.formulation == "diff" else problem.phi


def diff_rewards(spec: Spec, params: dict, problem: Problem, z=None) -> torch.Tensor:
    """Reward differences ``r_a - r_b`` (n_comparisons, K) from the difference matrix (linear rewards)."""
    d = linear(problem.diff, params["theta"]) if z is None else z
    if spec.kind == "pl":
        d = d / spec.beta
        if problem.dlogp is not None:
            alpha = params["alpha"] if spec.learns_alpha else torch.as_tensor(float(spec.alpha), dtype=d.dtype, device=d.device)
            d = d + problem.dlogp[:, None] * alpha
    return d


def obs_loglik(spec: Spec, params: dict, problem: Problem, z=None) -> torch.Tensor:
    """(n_obs, K): comparisons then rankings.

    The problem's formulation decides how: ``"diff"`` (fresh responses, linear reward)
    multiplies the difference matrix once; ``"gather"`` computes each used response's
    reward and gathers it per comparison. ``z``: ``design(spec, problem) @ theta.T`` when
    already computed.
    """
    if problem.formulation == "diff" and spec.reward == "linear":
        return pair_loglik(spec, params, diff_rewards(spec, params, problem, z), problem)
    r = rewards(spec, params, problem.phi, problem.logp_ref, z=z)
    logz = log_normalizer(spec, r, problem) if spec.kind == "pl" else None
    if problem.n_rankings == 0:  # skip the copy a concatenation with an empty part would make
        return comparison_loglik(spec, params, r, problem, logz)
    if problem.n_comparisons == 0:
        return ranking_loglik(r, problem)
    return torch.cat([comparison_loglik(spec, params, r, problem, logz), ranking_loglik(r, problem)], dim=0)


def group_loglik(ll: torch.Tensor, problem: Problem) -> torch.Tensor:
    """(n_groups, K) sums of the observation log-likelihoods of each group."""
    if problem.level == "observation" and problem.n_groups == ll.shape[0]:
        return ll
    return ll.new_zeros((problem.n_groups, ll.shape[1])).index_add(0, problem.group, ll)


def log_weights(spec: Spec, params: dict, like: torch.Tensor) -> torch.Tensor:
    if spec.n_types == 1:
        return like.new_zeros(1)
    return torch.log_softmax(params["logits"], dim=0)


def log_prior(spec: Spec, params: dict) -> torch.Tensor:
    """log density of the priors (Normal on reward parameters, Dirichlet on the weights)."""
    total = 0.0
    if spec.type_scale is not None and spec.n_types > 1:
        from ._shrinkage_prior import correlated_log_prior

        for name in REWARD_PARAMS:
            if name in params:
                total = total + correlated_log_prior(params[name], spec.type_scale, spec.prior_scale)
    elif spec.prior_scale is not None:
        s = float(spec.prior_scale)
        for name in REWARD_PARAMS:
            if name in params:
                p = params[name]
                total = total - 0.5 * (p * p).sum() / s**2 - p.numel() * (math.log(s) + 0.5 * math.log(2 * math.pi))
    if spec.n_types > 1:
        conc = float(spec.concentration)
        K = spec.n_types
        lw = torch.log_softmax(params["logits"], dim=0)
        total = total + (conc - 1) * lw.sum() + math.lgamma(conc * K) - K * math.lgamma(conc)
    return total


def log_marginal(spec: Spec, params: dict, problem: Problem, z=None) -> torch.Tensor:
    """The data term of the MAP objective: sum over groups of log sum_k w_k p(group's data | type k)."""
    gll = group_loglik(obs_loglik(spec, params, problem, z), problem)
    return torch.logsumexp(gll + log_weights(spec, params, gll), dim=1).sum()


def responsibility_term(spec: Spec, params: dict, problem: Problem, resp: torch.Tensor, z=None) -> torch.Tensor:
    """EM's data term for fixed responsibilities: sum of resp * (group log-likelihood + log weight)."""
    gll = group_loglik(obs_loglik(spec, params, problem, z), problem)
    return (resp * (gll + log_weights(spec, params, gll))).sum()


def log_joint(spec: Spec, params: dict, problem: Problem, scale: float = 1.0) -> torch.Tensor:
    """Exact log p(params, data) with the types summed out (the MAP objective)."""
    return log_prior(spec, params) + scale * log_marginal(spec, params, problem)


def fixed_responsibility_objective(spec: Spec, params: dict, problem: Problem, resp: torch.Tensor) -> torch.Tensor:
    """EM's expected complete-data log joint for fixed responsibilities (used to initialise)."""
    return log_prior(spec, params) + responsibility_term(spec, params, problem, resp)


def responsibilities(spec: Spec, params: dict, problem: Problem) -> torch.Tensor:
    with torch.no_grad():
        gll = group_loglik(obs_loglik(spec, params, problem), problem)
        return torch.softmax(gll + log_weights(spec, params, gll), dim=1)


# ---------------------------------------------------------------------- Pyro
def pyro_model(spec: Spec, problem: Problem, global_scale: float = 1.0):
    """The generative model as a Pyro model with the discrete type enumerated.

    Sites: reward parameters (``theta`` or ``w1``/``b1``/``w2``; Normal prior, or improper
    flat when ``prior_scale`` is None), ``tie`` and ``alpha`` (flat), ``weights``
    (Dirichlet) and ``type`` (Categorical, one per group, enumerated in parallel).
    ``global_scale`` multiplies the log densities of the global (parameter) sites: on each
    of P ranks holding a shard of the groups, ``1 / P`` makes the sum over ranks count the
    prior once and the data of every group once (distributed SVI).

    With a minibatch (``inference.batching.GroupBatch``) only its groups enter, in Pyro's
    subsampled ``"groups"`` plate, which scales their terms (type, data) by ``n_groups /
    batch size``; global sites keep their scale; each group's type is summed out exactly.
    """
    import pyro
    import pyro.distributions as dist
    from pyro import poutine
    from pyro.distributions import constraints
    from pyro.ops.indexing import Vindex

    shapes = param_shapes(spec, problem.dim)
    dev, dt = problem.device, problem.dtype
    K = spec.n_types

    def model(batch=None):
        with poutine.scale(scale=float(global_scale)):
            params, weights = global_sites()
        if batch is not None:
            return batch_sites(params, weights, batch)
        ll = obs_loglik(spec, params, problem)
        if K == 1:
            pyro.factor("obs", ll.sum())
            return
        gll = group_loglik(ll, problem)
        with pyro.plate("groups", problem.n_groups):
            z = pyro.sample("type", dist.Categorical(weights), infer={"enumerate": "parallel"})
            pyro.factor("obs", Vindex(gll)[torch.arange(problem.n_groups, device=dev), z])

    def batch_sites(params, weights, batch):
        n = len(batch.index)
        if n == 0:  # a rank may hold none of a batch's groups
            return
        gll = group_loglik(obs_loglik(spec, params, batch.problem), batch.problem)
        # the plate scales by size / n (the groups this rank holds); a batch spans all ranks, so
        # each rank's share is rescaled to size / total, one process's scale (Pyro cannot know it)
        rescale = poutine.scale(scale=n / batch.total)  # 1 in one process: an exact no-op
        with pyro.plate("groups", batch.size, subsample=batch.index), rescale:
            if K == 1:
                pyro.factor("obs", gll[:, 0])
                return
            z = pyro.sample("type", dist.Categorical(weights), infer={"enumerate": "parallel"})
            pyro.factor("obs", Vindex(gll)[torch.arange(n, device=dev), z])

    def global_sites():
        params = {}
        for name, shape in shapes.items():
            if name == "logits":
                continue
            if name in REWARD_PARAMS and spec.type_scale is not None and spec.n_types > 1:
                from ._shrinkage_prior import correlated_log_prior

                params[name] = pyro.sample(name, dist.ImproperUniform(constraints.real, (), shape))
                pyro.factor(f"{name}_shrinkage", correlated_log_prior(params[name], spec.type_scale, spec.prior_scale))
                continue
            if name in REWARD_PARAMS and spec.prior_scale is not None:
                d = dist.Normal(torch.zeros(shape, device=dev, dtype=dt), float(spec.prior_scale)).to_event(len(shape))
            else:
                d = dist.ImproperUniform(constraints.real, (), shape)
            params[name] = pyro.sample(name, d)
        weights = None
        if K > 1:
            weights = pyro.sample("weights", dist.Dirichlet(torch.full((K,), float(spec.concentration), device=dev,
                                                                       dtype=dt)))
        return params, weights

    return model


def continuous_sites(spec: Spec, dim: int) -> list:
    names = [n for n in param_shapes(spec, dim) if n != "logits"]
    if spec.n_types > 1:
        names.append("weights")
    return names


def params_to_sites(spec: Spec, params: dict) -> dict:
    values = {k: v.detach() for k, v in params.items() if k != "logits"}
    if spec.n_types > 1:
        values["weights"] = torch.softmax(params["logits"].detach(), dim=0)
    return values


def sites_to_params(spec: Spec, values: dict) -> dict:
    params = {k: v.detach() for k, v in values.items() if k != "weights"}
    if spec.n_types > 1:
        params["logits"] = torch.log(values["weights"].detach().clamp_min(1e-30))
    return params


def pyro_map_loss(spec: Spec, params: dict, problem: Problem) -> float:
    """Pyro's TraceEnum_ELBO loss with an AutoDelta guide at ``params``: equals -log_joint."""
    import pyro
    from pyro import poutine
    from pyro.infer import Trace_ELBO, TraceEnum_ELBO
    from pyro.infer.autoguide import AutoDelta, init_to_value

    pyro.clear_param_store()
    model = pyro_model(spec, problem)
    values = params_to_sites(spec, params)
    guide = AutoDelta(poutine.block(model, expose=continuous_sites(spec, problem.dim)),
                      init_loc_fn=init_to_value(values=values))
    elbo = TraceEnum_ELBO(max_plate_nesting=1) if spec.n_types > 1 else Trace_ELBO()
    with torch.no_grad():
        return float(elbo.loss(model, guide))

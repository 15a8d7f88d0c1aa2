"""Social-choice rules: one profile in, one lottery over each prompt's candidates out.

How each rule reads the profile
-------------------------------
* Probabilistic rules read the pooled matrix ``P̄ = sum_k w_k P_k`` (what one model fitted
  to everyone's comparisons sees): ``pooled``, ``borda``, ``maximal_lottery``.
* Ordinal rules read the weighted majority of types: type k prefers i to j when
  ``P_k(i beats j) > P_k(j beats i)``; ``margin_ij = sum_k w_k sign(P_k(i beats j) - P_k(j beats i))``;
  i beats j when ``margin_ij > 0``, a margin of exactly 0 (within 1e-9) is a tie:
  ``majority``, ``copeland``, ``kemeny``.
* Utility rules read each type's utility of each candidate: ``"winrate"`` (the type's
  expected win rate against a uniformly random candidate of the prompt, ties counted as
  half; a uniform lottery scores 1/2) or ``"reward"`` (the profile's per-type rewards):
  ``utilitarian``, ``maxmin``, ``minmax_regret``, ``dictator``; ``quantile`` reads the
  posterior samples.

Each rule is a public function of this module, ``rule(profile, **options) -> Lottery``,
declared with :func:`mixpref.aggregation.registry.register`, which records what it reads
and needs (samples, a candidate limit, a ``utility`` option); :data:`RULES` and
:func:`aggregate` read that registry.

With deterministic (0/1) types weighted by voter counts, both readings coincide with the
textbook voting rules. Rules that pick a set of winners return the uniform lottery over it
(ties within 1e-9 relative are winners together).

Examples
--------
>>> import numpy as np, mixpref as mp
>>> from mixpref.aggregation import rules
>>> prof = mp.Profile.from_rewards(np.array([[[2.0, 1.0, 0.0], [0.0, 1.0, 2.0]]]), weights=[0.6, 0.4])
>>> rules.borda(prof).probs.tolist()   # the majority type's favourite
[[1.0, 0.0, 0.0]]
>>> rules.maxmin(prof).probs.tolist()  # the compromise: both types win half the time
[[0.0, 1.0, 0.0]]
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..events import emit
from .kemeny import MAX_CANDIDATES
from .registry import get_rule, register, rule_names

def _argmax_lottery(scores, mask, rtol=1e-9):
    """Uniform lottery over each prompt's best-scoring real candidates."""
    s = np.where(mask, scores, -np.inf)
    best = s.max(axis=1, keepdims=True)
    win = (s >= best - rtol * np.maximum(1.0, np.abs(best))) & mask
    return win / win.sum(axis=1, keepdims=True)


def _number(value, name, expected):
    """``value`` as a float, or a DataError naming the option (a string would fail in a comparison)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name}: got {value!r}; expected {expected}") from None


def _masked(scores, mask):
    return np.where(mask, scores, np.nan)


# ---------------------------------------------------------------------------- ordinal rules
@register("type_majority")
def majority(profile):
    """Weighted majority of types: uniform over the Smith set (the Condorcet winner alone when
    one exists; the top cycle when the majority relation cycles).

    Score: the candidate's worst majority margin ``min_{j != i} margin_ij`` (positive only
    for a Condorcet winner).
    """
    from .relations import smith_set

    margin = profile.majority_margin()
    rel = profile.majority()
    smith = smith_set(rel, profile.mask)
    m = profile.mask.shape[1]
    other = profile.mask[:, None, :] & ~np.eye(m, dtype=bool)[None]
    worst = np.where(other, margin, np.inf).min(axis=2)
    worst = np.where(np.isinf(worst), 0.0, worst)  # a lone candidate
    probs = smith / smith.sum(axis=1, keepdims=True)
    return probs, _masked(worst, profile.mask), {"smith_set_size": smith.sum(axis=1)}


# ---------------------------------------------------------------------------- pooled-matrix rules
def _half_tie(pooled):
    return 0.5 * (1.0 + pooled - np.swapaxes(pooled, -1, -2))


@register("pooled")
def pooled(profile, temperature=None, ridge=1e-2, max_iter=100):
    """What one pooled Bradley–Terry model picks.

    Fits strengths ``theta`` with ``P̄(i beats j) ~ sigmoid(theta_i - theta_j)`` to the
    pooled matrix by penalised maximum likelihood (every pair weighted by its non-tie mass
    ``P̄_ij + P̄_ji``; ridge ``ridge * |theta|^2 / 2``; Newton steps). Score: the fitted
    strength ``theta`` (centred). The lottery is the argmax (which, on a complete pooled matrix, is also the
    Borda winner: a single BT model aggregates like Borda), or ``softmax(theta / temperature)``
    when ``temperature`` is given (the KL-regularised policy DPO on pooled data targets,
    uniform reference).
    """
    ridge = _number(ridge, "ridge", "a positive number")
    if not ridge > 0:
        raise DataError(f"ridge: got {ridge}; expected a positive number (it keeps strengths finite)")
    pooled = profile.pooled()
    mask = profile.mask
    pair = profile._pair_mask()
    n, m = mask.shape
    wins = np.where(pair, pooled, 0.0)
    games = wins + np.swapaxes(wins, 1, 2)
    theta = np.zeros((n, m))
    eye = np.eye(m)[None]
    converged = False
    for _ in range(max_iter):
        s = 1.0 / (1.0 + np.exp(-(theta[:, :, None] - theta[:, None, :])))
        grad = (wins - games * s).sum(axis=2) - ridge * theta
        h = games * s * (1 - s)
        hess = eye * (h.sum(axis=2) + ridge)[:, :, None] - h  # negative Hessian (positive definite)
        hess = np.where(mask[:, :, None] & mask[:, None, :], hess, eye)
        step = np.linalg.solve(hess, np.where(mask, grad, 0.0)[..., None])[..., 0]
        theta = theta + step
        if np.abs(step).max() < 1e-10:
            converged = True
            break
    theta = np.where(mask, theta - (theta * mask).sum(1, keepdims=True) / mask.sum(1, keepdims=True), 0.0)
    if temperature is None:
        probs = _argmax_lottery(theta, mask)
    else:
        if not temperature > 0:
            raise DataError(f"temperature: got {temperature}; expected a positive number or None")
        z = np.where(mask, theta / temperature, -np.inf)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        probs = z / z.sum(axis=1, keepdims=True)
    return probs, _masked(theta, mask), {"temperature": temperature, "ridge": ridge, "converged": converged}


@register("pooled")
def borda(profile):
    """Borda on the pooled matrix: score ``sum_{j != i} W̄(i, j)`` with the half-tie win rate
    ``W̄(i, j) = (1 + P̄_ij - P̄_ji) / 2`` (``= sum_j P̄(i beats j)`` when ties are not modelled)."""
    w = _half_tie(profile.pooled())
    pair = profile._pair_mask()
    scores = np.where(pair, w, 0.0).sum(axis=2)
    return _argmax_lottery(scores, profile.mask), _masked(scores, profile.mask), {}


# ---------------------------------------------------------------------------- more ordinal rules
@register("type_majority")
def copeland(profile):
    """Copeland: score = majority wins - majority losses (ties count 0), as in pref_voting."""
    rel = profile.majority().astype(np.float64)
    scores = rel.sum(axis=2)
    return _argmax_lottery(scores, profile.mask), _masked(scores, profile.mask), {}


@register("type_majority", max_candidates=MAX_CANDIDATES)
def kemeny(profile):
    """Kemeny–Young, exact (dynamic programming, at most 12 candidates).

    A ranking's objective is ``sum over pairs (a above b) of margin_ab`` (weighted majority
    margins). Score: the best objective among rankings with the candidate on top; the
    winners are the tops of the optimal rankings.
    """
    from .kemeny import kemeny_top_scores

    top = kemeny_top_scores(profile.majority_margin())
    probs = _argmax_lottery(top, profile.mask)
    return probs, _masked(top, profile.mask), {"kemeny_objective": np.where(profile.mask, top, -np.inf).max(axis=1)}


# ---------------------------------------------------------------------------- the maximal lottery
@register("pooled")
def maximal_lottery(
    profile, method="lp", tol=1e-3, device="auto", max_iter=10_000, step_size=4.0, num_threads=1, chunk_size=2000
):
    """Maximal lottery (von Neumann winner) of the pooled game ``A = P̄ - P̄ᵀ``.

    The lottery x with ``sum_j x_j (P̄_ij - P̄_ji) <= 0`` for every candidate i: no
    candidate beats it in expectation. ``method="lp"``: exact, scipy HiGHS (prompts stacked
    into block-diagonal programs). ``method="selfplay"``: batched optimistic Hedge in torch
    (``device="auto"`` uses CUDA when available) with an exact polish step, stopped when
    every prompt's exploitability is at most ``tol`` (options ``tol``, ``device``, ``max_iter``,
    ``step_size``, ``num_threads``: see :func:`mixpref.aggregation.selfplay.maximal_lottery_selfplay`;
    ``chunk_size``: prompts per HiGHS call for ``"lp"``). Score: the candidate's expected margin
    against the lottery (0 on the support, at most ``exploitability`` anywhere).
    Metadata: ``exploitability`` (P,) and its ``max``.
    """
    pooled = profile.pooled()
    game = pooled - np.swapaxes(pooled, 1, 2)
    mask = profile.mask
    meta = {"method": method}
    if method == "lp":
        from .lp import maximal_lottery_lp

        probs = maximal_lottery_lp(game, mask, chunk_size=chunk_size)
    elif method == "selfplay":
        from .selfplay import maximal_lottery_selfplay

        tol = _number(tol, "tol", "an exploitability level >= 0")
        if not tol >= 0:
            raise DataError(f"tol: got {tol}; expected an exploitability level >= 0")

        probs, _, info = maximal_lottery_selfplay(
            game, mask, tol=tol, device=device, max_iter=max_iter, step_size=step_size, num_threads=num_threads
        )
        meta.update(info)
        meta["tol"] = tol
    else:
        raise DataError(f"method: got {method!r}; expected 'lp' or 'selfplay'")
    from .selfplay import exploitability

    expl = exploitability(game, probs, mask)
    meta["exploitability"] = expl
    meta["max_exploitability"] = float(expl.max())
    scores = np.einsum("pij,pj->pi", game, probs)
    return probs, _masked(scores, mask), meta


# ---------------------------------------------------------------------------- utility rules
def _active_types(profile):
    return profile.weights > 0


@register("type_utilities")
def utilitarian(profile, utility="reward"):
    """Utilitarian: the candidate maximising the type-weighted utility ``sum_k w_k u_k(i)``.

    Score: ``sum_k w_k u_k(i)``. Default ``utility="reward"`` needs the profile's rewards (with ``"winrate"`` this is
    Borda on the pooled matrix, up to an affine map).
    """
    u = profile.utilities(utility)
    scores = np.einsum("pk,pki->pi", profile.weights, u)
    return _argmax_lottery(scores, profile.mask), _masked(scores, profile.mask), {"utility": utility}


@register("type_utilities", worst_case=True)
def maxmin(profile, utility="winrate", chunk_size=2000):
    """Egalitarian max-min: ``max_x min_k sum_i x_i u_k(i)`` over lotteries x (LP, HiGHS).

    The worst-off type's expected utility is maximised; types with zero weight on a prompt
    do not count. With ``utility="winrate"``, ``u_k(i)`` is type k's win rate of i against
    a uniformly random candidate, so the value is the worst type's expected win rate of a
    draw from the lottery against a random candidate. Score: the worst type's utility of the
    candidate alone, ``min_k u_k(i)``. Metadata ``value``: the optimum per prompt.
    """
    from .lp import maxmin_lp

    u = profile.utilities(utility)
    active = _active_types(profile)
    probs, value = maxmin_lp(u, active, profile.mask, chunk_size=chunk_size)
    scores = np.where(active[:, :, None], u, np.inf).min(axis=1)
    return probs, _masked(scores, profile.mask), {"utility": utility, "value": value}


@register("type_utilities", worst_case=True)
def minmax_regret(profile, utility="winrate", chunk_size=2000):
    """Min-max regret: ``min_x max_k (max_i u_k(i) - sum_i x_i u_k(i))`` (LP, HiGHS).

    A type's regret is how much utility it loses against its own favourite. Score: minus the
    largest regret of the candidate alone. Metadata ``value``: the optimal regret per prompt.
    """
    from .lp import minmax_regret_lp

    u = profile.utilities(utility)
    active = _active_types(profile)
    probs, value = minmax_regret_lp(u, active, profile.mask, chunk_size=chunk_size)
    best = np.where(profile.mask[:, None, :], u, -np.inf).max(axis=2, keepdims=True)
    regret = np.where(active[:, :, None], best - u, -np.inf).max(axis=1)
    return probs, _masked(-regret, profile.mask), {"utility": utility, "value": value}


@register("pooled_samples", needs_samples=True, worst_case=True)
def quantile(profile, alpha=0.1):
    """Risk-sensitive: the candidate with the best ``alpha``-quantile, over posterior samples,
    of its pooled win rate against a uniformly random candidate.

    For sample s: ``b_s(i) = mean_j W̄_s(i, j)`` (half-tie win rates of the pooled sampled
    matrix, j over the prompt's candidates, itself included). Score: the ``alpha``-quantile
    of ``b_s(i)`` over s. Needs ``profile.samples``.
    """
    if profile.samples is None:
        raise DataError(
            "Profile samples: rule 'quantile' needs posterior samples but the profile has none; "
            "pass samples=... (or reward_samples=... to Profile.from_rewards)"
        )
    alpha = _number(alpha, "alpha", "a quantile level in [0, 1]")
    if not 0.0 <= alpha <= 1.0:
        raise DataError(f"alpha: got {alpha}; expected a quantile level in [0, 1]")
    w = _half_tie(profile.pooled_samples())  # (S, P, M, M)
    mask = profile.mask
    b = np.where(mask[None, :, None, :], w, 0.0).sum(axis=3) / mask.sum(axis=1)[None, :, None]
    scores = np.quantile(b, alpha, axis=0)
    return _argmax_lottery(scores, mask), _masked(scores, mask), {"alpha": alpha, "n_samples": b.shape[0]}


@register("type_utilities")
def dictator(profile, type=None, utility="winrate"):
    """One type decides: its favourite candidate by its own utility (a reference point).

    ``type``: the type index; default, each prompt's heaviest type. Score: that type's
    utility of each candidate.
    """
    u = profile.utilities(utility)
    n, k = profile.weights.shape
    if type is None:
        who = profile.weights.argmax(axis=1)
    else:
        if not (isinstance(type, (int, np.integer)) and 0 <= type < k):
            raise DataError(f"type: got {type!r}; expected a type index in 0..{k - 1}")
        who = np.full(n, int(type))
    scores = u[np.arange(n), who]
    return _argmax_lottery(scores, profile.mask), _masked(scores, profile.mask), {"type": who, "utility": utility}


def rule_options(rule):
    """The options a rule accepts and their defaults, as a dict (from the registry)."""
    return dict(get_rule(rule).options)


def aggregate(profile, rule, study=None, posterior=False, **options):
    """Apply a social-choice rule to a profile.

    Parameters
    ----------
    profile : Profile
    rule : str
        One of :data:`RULES` (the registered rules; see
        :func:`mixpref.aggregation.registry.rule_table` for what each reads and needs, and
        the module docstring for which matrix each reads). Each rule is also a function of
        this module, e.g. ``rules.borda(profile)``.
    study : Study, run, None or False
        Where to log the rule, its options and the lottery's exploitability and support
        (None: the active :class:`mixpref.Study`, if any; False: nowhere).
    posterior : bool, default False
        Apply the rule to every posterior draw of the profile (one batched run over draws x
        prompts) and return a :class:`~mixpref.aggregation.posterior.LotteryPosterior`; see
        :func:`~mixpref.aggregation.posterior.aggregate_posterior`. The profile needs draws
        (a model fitted with ``inference="svi"``, ``"laplace"`` or ``"ensemble"``);
        without them a DataError says so.
    **options
        Rule options, e.g. ``method="selfplay"`` for ``maximal_lottery``, ``type=1`` for
        ``dictator``, ``alpha=0.05`` for ``quantile``, ``utility="reward"``.

    Returns
    -------
    Lottery, or LotteryPosterior with ``posterior=True``

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> # three voters with the rankings a>b>c, b>c>a, c>a>b: a majority cycle
    >>> rankings = [[0, 1, 2], [1, 2, 0], [2, 0, 1]]
    >>> mats = np.array([[[float(r.index(i) < r.index(j)) if i != j else 0.5 for j in range(3)]
    ...                    for i in range(3)] for r in rankings])
    >>> prof = mp.Profile(mats[None], weights=np.ones(3) / 3)
    >>> np.round(mp.aggregate(prof, "maximal_lottery").probs, 3).tolist()
    [[0.333, 0.333, 0.333]]
    >>> mp.aggregate(prof, "copeland").probs.round(3).tolist()
    [[0.333, 0.333, 0.333]]
    """
    if posterior:
        from .posterior import aggregate_posterior  # lazily: a point aggregation never needs it

        return aggregate_posterior(profile, rule, study=study, **options)
    lottery = get_rule(rule).func(profile, **options)
    # computation never logs: whoever observes (an active mp.Study, mp.autolog) decides
    emit("aggregate", lottery=lottery, rule=rule, options=dict(options), study=study)
    return lottery


# every registered rule, in the order defined above (read from the registry, never listed by hand)
RULES = rule_names()

"""Whom each rule serves: per-type satisfaction, Condorcet consistency, cycles, Pareto violations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .lottery import truncate_text
from .profile import Profile
from .registry import get_rule
from .relations import condorcet_winner, has_cycle, pareto_dominated
from .rules import RULES, aggregate
from .selfplay import exploitability

# a lottery "chooses" the Condorcet winner when it puts (numerically) all its mass there
CHOSEN_PROB = 1 - 1e-6
# mass below this on a dominated candidate is solver noise, not a violation
PARETO_MASS_TOL = 1e-9


def applicable_rules(profile, options=None):
    """Which registered rules can run on ``profile``: ``(names, skipped)``.

    ``skipped`` maps each rule left out to the reason, read from the registry (e.g.
    ``quantile`` needs posterior samples; ``utilitarian`` needs rewards; ``kemeny`` handles
    at most 12 candidates).
    """
    options = dict(options or {})
    names, skipped = [], {}
    for rule in RULES:
        reason = get_rule(rule).unmet(profile, options.get(rule))
        if reason is None:
            names.append(rule)
        else:
            skipped[rule] = reason
    return names, skipped


def type_satisfaction(profile, probs):
    """Each type's expected win rate of a lottery, per prompt.

    Returns
    -------
    vs_uniform : ndarray (P, K)
        ``sum_i x_i u_k(i)``: a draw from the lottery against a uniformly random candidate
        (ties and self-matches count half; the uniform lottery scores 1/2).
    vs_favourite : ndarray (P, K)
        ``sum_i x_i W_k(i, f_k)`` against the type's favourite ``f_k = argmax_i u_k(i)``
        (1/2 when the lottery is the type's favourite).
    """
    u = profile.utilities("winrate")  # (P, K, M)
    vs_uniform = np.einsum("pki,pi->pk", u, probs)
    fav = np.where(profile.mask[:, None, :], u, -np.inf).argmax(axis=2)  # (P, K)
    w = profile.win_rates()  # (P, K, M, M)
    w_vs_fav = np.take_along_axis(w, fav[:, :, None, None], axis=3)[..., 0]  # (P, K, M)
    vs_favourite = np.einsum("pki,pi->pk", w_vs_fav, probs)
    return vs_uniform, vs_favourite


def compare_rules(profile, rules=None, options=None):
    """Run several rules on one profile and show whom each serves.

    Parameters
    ----------
    profile : Profile
    rules : sequence of str, optional
        Default: every rule in :data:`RULES` the profile supports (see
        :func:`applicable_rules`); the table's ``attrs["skipped"]`` says why each other
        rule is absent.
    options : dict, optional
        Per-rule options, e.g. ``{"maximal_lottery": {"method": "selfplay"}}``.

    Returns
    -------
    pandas.DataFrame
        One row per rule (index ``rule``). Columns, averaged over prompts:
        ``type{k}_vs_uniform`` and ``type{k}_vs_favourite`` (type k's expected win rate of
        the rule's lottery against a uniformly random candidate / against k's favourite,
        ties counting half; over prompts where k has positive weight), ``mean_vs_uniform``
        (type-weighted), ``worst_type`` and ``worst_vs_uniform`` (the type with the lowest
        ``vs_uniform``), ``condorcet_prompts`` (prompts with a weighted-majority Condorcet
        winner), ``condorcet_chosen`` (fraction of those where the lottery puts all its mass
        on it), ``cycle_prompts`` (prompts whose majority relation has a cycle),
        ``pareto_violations`` (prompts where the lottery puts mass on a Pareto-dominated
        candidate), ``dominated_mass`` (mean such mass), ``exploitability`` (mean largest
        expected margin of any candidate against the lottery under the pooled matrix; 0 for
        the maximal lottery) and ``support`` (mean number of candidates with positive
        probability). When the profile has a single prompt, ``top`` names the lottery's
        most probable candidate (its text when the profile carries texts).

        Which relation: ``condorcet_*`` and ``cycle_prompts`` read the weighted
        **type-majority** relation (each type votes for its own majority preference with its
        weight; :meth:`Profile.majority`), not the pooled matrix ``P̄``.

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> rewards = np.array([[[2.0, 1.0, 0.0], [0.0, 1.0, 2.0]]])   # two types, opposite tastes
    >>> prof = mp.Profile.from_rewards(rewards, weights=[0.6, 0.4])
    >>> table = mp.compare_rules(prof, rules=["borda", "maxmin"])
    >>> bool(table.loc["maxmin", "worst_vs_uniform"] >= table.loc["borda", "worst_vs_uniform"])
    True
    """
    if not isinstance(profile, Profile):
        raise DataError(f"profile: expected a mixpref Profile, got {type(profile).__name__}")
    options = dict(options or {})
    if rules is None:
        rules, skipped = applicable_rules(profile, options)
    else:
        rules, skipped = list(rules), {}
    unknown = sorted(set(options) - set(rules))
    if unknown:
        raise DataError(f"options: rules {unknown} are not among the rules compared {rules}")
    mask = profile.mask
    rel = profile.majority()
    cw = condorcet_winner(rel, mask)
    cycles = has_cycle(rel, mask)
    dominated = pareto_dominated(profile.matrices, profile.weights, mask)
    pooled = profile.pooled()
    game = pooled - np.swapaxes(pooled, 1, 2)
    active = profile.weights > 0
    n_types = profile.n_types
    rows = []
    for rule in rules:
        lot = aggregate(profile, rule, **options.get(rule, {}))
        probs = lot.probs
        vs_u, vs_f = type_satisfaction(profile, probs)
        row = {"rule": rule}
        type_means = []
        for k in range(n_types):
            sel = active[:, k]
            mean_u = float(vs_u[sel, k].mean()) if sel.any() else np.nan
            row[f"type{k}_vs_uniform"] = mean_u
            row[f"type{k}_vs_favourite"] = float(vs_f[sel, k].mean()) if sel.any() else np.nan
            type_means.append(mean_u)
        row["mean_vs_uniform"] = float(np.einsum("pk,pk->p", profile.weights, vs_u).mean())
        means = np.array(type_means)
        worst = int(np.nanargmin(means)) if np.isfinite(means).any() else -1
        row["worst_type"] = worst
        row["worst_vs_uniform"] = float(means[worst]) if worst >= 0 else np.nan
        has_cw = cw >= 0
        row["condorcet_prompts"] = int(has_cw.sum())
        if has_cw.any():
            chosen = probs[np.flatnonzero(has_cw), cw[has_cw]] >= CHOSEN_PROB
            row["condorcet_chosen"] = float(chosen.mean())
        else:
            row["condorcet_chosen"] = np.nan
        row["cycle_prompts"] = int(cycles.sum())
        mass = np.where(dominated, probs, 0.0).sum(axis=1)
        row["pareto_violations"] = int((mass > PARETO_MASS_TOL).sum())
        row["dominated_mass"] = float(mass.mean())
        row["exploitability"] = float(exploitability(game, probs, mask).mean())
        row["support"] = float(((probs > PARETO_MASS_TOL) & mask).sum(axis=1).mean())
        if profile.n_prompts == 1:
            best = int(np.where(mask[0], probs[0], -1.0).argmax())
            text = None if profile.texts is None else profile.texts[0, best]
            row["top"] = truncate_text(text) if text is not None else profile.candidates[0, best]
        rows.append(row)
    table = pd.DataFrame(rows).set_index("rule")
    table.attrs["skipped"] = skipped
    return table

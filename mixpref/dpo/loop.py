"""The closed loop: sample from the policy, score with the population, aggregate, build targets, train.

On a tabular policy (one softmax over each prompt's candidates) every round t

1. draws ``n_samples`` candidates per prompt from the current policy π_t;
2. scores them: with the population's preference matrices (``scorer="population"``), or by
   asking the synthetic population ``n_votes`` new comparisons per pair and type and
   re-estimating each type's preferences from all answers so far (``scorer="ask"``);
3. builds a target lottery over the sampled candidates: ``mode="selfplay"`` gives each
   candidate its pooled win rate ``w`` against the policy's own samples and tilts the
   policy, ``q ∝ π_t exp(η (w − ½))`` (SPPO's update, multiplicative weights in the
   symmetric game, whose time average approaches the maximal lottery); ``mode="rule"``
   moves the policy towards ``mp.aggregate(profile over the sample, rule)``;
4. turns the target into soft-label DPO pairs at the trainer's β relative to π_t
   (``mp.to_dpo_pairs(..., beta=, reference=)``) and trains the tabular policy on them with
   π_t as reference, whose optimum is the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError

MODES = ("selfplay", "rule")
SCORERS = ("population", "ask")


@dataclass
class IterationResult:
    """What :func:`iterate` returns.

    Attributes
    ----------
    policies : ndarray (T + 1, P, M)
        π_0 … π_T.
    average : ndarray (P, M)
        The time-averaged policy ``(1/T) Σ_{t=1..T} π_t``.
    history : pandas.DataFrame
        One row per round: ``round``, ``exploitability`` and ``exploitability_avg`` (of π_t
        and of the running average, pooled game), ``tv_to_maximal_lottery`` and
        ``tv_avg_to_maximal_lottery``, ``type{k}_win_rate`` (type k's win rate of π_t
        against a uniformly random candidate) and ``type{k}_win_rate_avg``.
    maximal_lottery : ndarray (P, M)
        The population's maximal lottery, for reference.
    """

    policies: np.ndarray
    average: np.ndarray
    history: pd.DataFrame
    maximal_lottery: np.ndarray = field(repr=False)


def _sub_profile(profile, matrices, sampled):
    import mixpref as mp

    return mp.Profile(matrices, profile.weights, candidates=profile.candidates, prompts=profile.prompts, mask=sampled)


def _exploitability(pooled, probs, mask):
    import mixpref as mp

    lot = mp.Lottery(probs, probs, "policy", pairwise=pooled, mask=mask)
    return float(np.mean(lot.exploitability()))


def iterate(profile, rounds=50, mode="selfplay", rule="pooled", eta=1.0, beta=0.1, n_samples=16, scorer="population",
            n_votes=20, initial=None, steps=100, step=0.5, random_state=0):
    """Run the sample → score → aggregate → targets → train loop on a tabular policy.

    Parameters
    ----------
    profile : mp.Profile
        The (true) population: each type's preference matrices over each prompt's candidates.
    rounds : int
    mode : {"selfplay", "rule"}
        Targets from win-rate self-play (``eta``) or from ``rule`` over the sampled candidates.
    rule : str
        A rule of ``mp.aggregate`` (``mode="rule"``).
    eta : float
        Self-play step size.
    step : float
        ``mode="rule"``: the target mixes the policy on the sampled candidates with the rule's
        lottery, ``(1 − step) π_t + step L``, so that a candidate the rule drops on one
        round's sample fades instead of vanishing for good (it could never be sampled again).
    beta : float
        The trainer's β (targets are built for it).
    n_samples : int
        Candidates drawn per prompt and round (with replacement; the distinct ones are the set).
    scorer : {"population", "ask"}
        Exact preferences of the population, or estimates from ``n_votes`` new answers per pair
        and type each round (accumulated; add-one smoothed).
    initial : ndarray (P, M), optional
        π_0 (default uniform).
    steps : int
        L-BFGS iterations per round.
    random_state : int

    Returns
    -------
    IterationResult

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> cyc = np.array([[0.5, .9, .1], [.1, .5, .9], [.9, .1, .5]])
    >>> prof = mp.Profile(cyc[None, None], weights=[1.0])
    >>> res = mp.dpo.iterate(prof, rounds=60, eta=1.0, n_samples=32)
    >>> bool(res.history.tv_avg_to_maximal_lottery.iloc[-1] < 0.1)
    True
    """
    import mixpref as mp

    from .tabular import train_tabular

    if mode not in MODES:
        raise DataError(f"mode: got {mode!r}, expected one of {', '.join(MODES)}")
    if scorer not in SCORERS:
        raise DataError(f"scorer: got {scorer!r}, expected one of {', '.join(SCORERS)}")
    if not 0 < step <= 1:
        raise DataError(f"step: got {step}, expected a number in (0, 1]")
    for name, value in (("rounds", rounds), ("n_samples", n_samples), ("n_votes", n_votes)):
        if int(value) < 1:
            raise DataError(f"{name}: got {value}, expected an integer >= 1")
    rng = np.random.default_rng(random_state)
    mask = profile.mask
    n_prompts, n_types, width = profile.shape
    pooled = profile.pooled()
    ml = mp.aggregate(profile, "maximal_lottery").probs
    grid = mp.Lottery(np.where(mask, 1.0, 0.0) / mask.sum(1, keepdims=True), np.zeros(mask.shape), "grid",
                      prompts=profile.prompts, candidates=profile.candidates, mask=mask)
    policy = grid.probs.copy() if initial is None else np.asarray(initial, dtype=np.float64)
    if policy.shape != mask.shape:
        raise DataError(f"initial: got shape {policy.shape}, expected {mask.shape}")
    wins = np.zeros(profile.matrices.shape)  # answers so far (scorer="ask")
    asked = np.zeros(profile.matrices.shape)
    policies, rows, total = [policy], [], np.zeros_like(policy)
    uniform = mask / mask.sum(1, keepdims=True)
    from .group_robust import type_win_rates

    for t in range(1, int(rounds) + 1):
        draws = np.stack([rng.multinomial(int(n_samples), policy[p] / policy[p].sum()) for p in range(n_prompts)])
        sampled = (draws > 0) & mask
        if scorer == "population":
            matrices = profile.matrices
        else:
            votes = rng.binomial(int(n_votes), np.clip(profile.matrices, 0, 1))
            pair = sampled[:, None, :, None] & sampled[:, None, None, :]
            wins += np.where(pair, votes, 0)
            asked += np.where(pair, int(n_votes), 0)
            matrices = (wins + 1.0) / (asked + 2.0)
            matrices = 0.5 * (matrices + 1.0 - np.swapaxes(matrices, -1, -2))  # P_ij + P_ji = 1
        sub = _sub_profile(profile, matrices, sampled)
        if mode == "selfplay":
            # pooled win rate of each sampled candidate against the policy's own samples
            empirical = draws / draws.sum(1, keepdims=True)
            w = np.einsum("pij,pj->pi", sub.win_rates(sub.pooled()[:, None])[:, 0], empirical)
            target = np.where(sampled, policy * np.exp(eta * (w - 0.5)), 0.0)
        else:
            on_sample = np.where(sampled, policy, 0.0)
            on_sample /= on_sample.sum(1, keepdims=True)
            target = (1 - step) * on_sample + step * mp.aggregate(sub, rule).probs
        target = np.where(sampled, target / target.sum(1, keepdims=True), 0.0)
        lottery = mp.Lottery(target, target, f"{mode}:{rule}", prompts=profile.prompts,
                             candidates=profile.candidates, mask=sampled, pairwise=sub.pooled())
        ref_sub = np.where(sampled, policy, 1.0)
        pairs = mp.to_dpo_pairs(lottery, strategy="winner_vs_rest", beta=beta, reference=ref_sub)
        if len(pairs):
            policy = train_tabular(pairs, grid, loss="soft", beta=beta, reference=policy, steps=steps).probs
        policy = np.maximum(policy, 1e-12) * mask  # keep every candidate reachable by sampling
        policy /= policy.sum(1, keepdims=True)
        policies.append(policy)
        total += policy
        average = total / t
        row = {"round": t, "exploitability": _exploitability(pooled, policy, mask),
               "exploitability_avg": _exploitability(pooled, average, mask),
               "tv_to_maximal_lottery": float(np.mean(0.5 * np.abs(policy - ml).sum(1))),
               "tv_avg_to_maximal_lottery": float(np.mean(0.5 * np.abs(average - ml).sum(1)))}
        for k, (now, avg) in enumerate(zip(type_win_rates(profile, policy, uniform), type_win_rates(profile, average, uniform))):
            row[f"type{k}_win_rate"], row[f"type{k}_win_rate_avg"] = float(now), float(avg)
        rows.append(row)
    return IterationResult(policies=np.stack(policies), average=total / int(rounds), history=pd.DataFrame(rows),
                           maximal_lottery=ml)

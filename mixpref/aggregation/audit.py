"""A social-choice audit: which axioms each rule (or trained policy) keeps on this profile, and by how much it fails.

Ge et al. (NeurIPS 2024) show that Bradley–Terry reward fitting can violate Pareto
optimality and pairwise-majority consistency; Gölz, Haghtalab and Yang show that the
maximal lottery (Nash learning from human feedback) has minimax-optimal distortion. The
audit measures those properties on the user's own population, rule by rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .profile import MARGIN_TOL, Profile
from .relations import condorcet_winner, has_cycle, pareto_dominated
from .selfplay import exploitability

# a lottery "chooses" a candidate when it puts (numerically) all its mass there
CHOSEN_PROB = 1 - 1e-6
# probability below this is solver noise, not mass
MASS_TOL = 1e-9
# a candidate's probability may fall by this much after a boost before it counts as a violation
MONOTONE_TOL = 1e-6


def _unanimously_dominated(profile):
    """(P, M) bool: some candidate j is strictly preferred to i by every type with positive weight."""
    d = profile.matrices - np.swapaxes(profile.matrices, -1, -2)  # d[p, k, j, i] > 0: k prefers j to i
    active = (profile.weights > 0)[:, :, None, None]
    strictly = np.where(active, d > MARGIN_TOL, True).all(axis=1)
    pair = profile._pair_mask()
    return (strictly & pair).any(axis=1) & profile.mask


def _pooled_relation(profile):
    pooled = profile.pooled()
    d = pooled - np.swapaxes(pooled, 1, 2)
    rel = np.zeros(d.shape, dtype=np.int8)
    rel[d > MARGIN_TOL] = 1
    rel[d < -MARGIN_TOL] = -1
    return np.where(profile._pair_mask(), rel, 0)


def _linear_orders(rel, mask):
    """(P,) bool: the relation is a strict linear order of the prompt's candidates."""
    m = mask.shape[1]
    off = mask[:, :, None] & mask[:, None, :] & ~np.eye(m, dtype=bool)[None]
    complete = np.where(off, rel != 0, True).all(axis=(1, 2))
    return complete & ~has_cycle(rel, mask)


def _ranking_agrees(rel, probs, scores, mask):
    """(P,) bool: ordering by (probability, then score), descending, equals ``rel`` on every pair.

    Candidates tied in both probability and score are not ordered, which counts as a
    disagreement with a linear order.
    """
    s = np.where(np.isfinite(scores), scores, -np.inf)
    dp = probs[:, :, None] - probs[:, None, :]
    with np.errstate(invalid="ignore"):  # -inf - -inf: both unscored, neither above
        ds = s[:, :, None] - s[:, None, :]
    score_above = np.nan_to_num(ds, nan=0.0) > MASS_TOL
    above = (dp > MASS_TOL) | ((np.abs(dp) <= MASS_TOL) & score_above)
    off = mask[:, :, None] & mask[:, None, :] & ~np.eye(mask.shape[1], dtype=bool)[None]
    return np.where(off, above == (rel > 0), True).all(axis=(1, 2))


def _iterated_agrees(profile, spec, options, idx, rel):
    """(len(idx),) bool: re-applying the rule to the candidates not yet ranked yields ``rel``'s order.

    The rule's winner is ranked first, removed, and the rule runs again on the rest (a
    social choice function read as a ranking); a prompt agrees when every step's lottery
    puts all its mass on the top of the remaining majority order.
    """
    sub = _subset(profile, idx)
    rel = rel[idx]
    remaining = sub.mask.copy()
    agrees = np.ones(len(idx), dtype=bool)
    rows = np.arange(len(idx))
    while (remaining.sum(axis=1) >= 2).any():
        live = remaining.sum(axis=1) >= 2
        step = Profile(sub.matrices, sub.weights, rewards=sub.rewards, samples=sub.samples, mask=remaining, ties=sub.ties)
        probs = spec.compute(step, **options)[0]
        top = condorcet_winner(rel, remaining)  # a restriction of a linear order keeps a top
        agrees &= ~live | (probs[rows, top] >= CHOSEN_PROB)
        remaining[rows[live], top[live]] = False
    return agrees


def _condorcet(rel, mask, probs):
    cw = condorcet_winner(rel, mask)
    has = cw >= 0
    if not has.any():
        return 0, np.nan
    return int(has.sum()), float((probs[np.flatnonzero(has), cw[has]] >= CHOSEN_PROB).mean())


def _subset(profile, idx):
    return Profile(
        profile.matrices[idx],
        profile.weights[idx],
        rewards=None if profile.rewards is None else profile.rewards[idx],
        samples=None if profile.samples is None else profile.samples[:, idx],
        mask=profile.mask[idx],
        ties=profile.ties,
    )


def _boost(profile, winner, share=0.5):
    """The profile with ``winner`` (P,) raised for every type, nothing else changed.

    Against each other candidate j, a ``share`` of the probability that j beats the winner
    moves to the winner beating j (ties stay ties), for every type and posterior sample;
    rewards of the winner rise by ``log(1 / (1 - share))`` for every type.
    """
    p_idx = np.arange(profile.n_prompts)

    def raise_rows(mats):  # mats (..., P, K, M, M)
        mats = mats.copy()
        row = mats[..., p_idx, :, winner, :]  # winner beats j; indexing moves P to the front
        col = mats[..., p_idx, :, :, winner]  # j beats winner
        new_row, new_col = row + share * col, (1 - share) * col
        # the winner against itself stays a coin flip; the prompt axis comes first in row/col
        diag = np.arange(mats.shape[-1])[None, :] == winner[:, None]  # (P, M)
        diag = diag.reshape(len(winner), *([1] * (row.ndim - 2)), mats.shape[-1])
        new_row = np.where(diag, row, new_row)
        new_col = np.where(diag, col, new_col)
        mats[..., p_idx, :, winner, :] = new_row
        mats[..., p_idx, :, :, winner] = new_col
        return mats

    rewards = None
    if profile.rewards is not None:
        rewards = profile.rewards.copy()
        rewards[p_idx, :, winner] += np.log(1.0 / (1.0 - share))
    return Profile(
        raise_rows(profile.matrices),
        profile.weights,
        rewards=rewards,
        samples=None if profile.samples is None else raise_rows(profile.samples),
        mask=profile.mask,
        ties=profile.ties,
    )


def _monotonicity(profile, spec, options, n_spot, rng):
    """(checked, violations): raise each spot prompt's top candidate for every type; its probability must not fall."""
    n = profile.n_prompts
    idx = np.sort(rng.choice(n, size=min(n_spot, n), replace=False))
    sub = _subset(profile, idx)
    before = spec.compute(sub, **options)[0]
    winner = np.where(sub.mask, before, -1.0).argmax(axis=1)
    after = spec.compute(_boost(sub, winner), **options)[0]
    rows = np.arange(len(idx))
    return len(idx), int((after[rows, winner] < before[rows, winner] - MONOTONE_TOL).sum())


def _as_probs(name, obj, profile):
    """A lottery-like object as (probs, scores) on the profile's grid."""
    from .posterior import LotteryPosterior

    if isinstance(obj, LotteryPosterior):
        obj = obj.mean
    if hasattr(obj, "probs") and hasattr(obj, "candidates") and hasattr(obj, "prompts"):
        probs_in = np.asarray(obj.probs, dtype=np.float64)
        scores_in = getattr(obj, "scores", None)
        index = {}
        cands, mask_in = obj.candidates, np.asarray(obj.mask, dtype=bool)
        for r, pid in enumerate(obj.prompts):
            for c in np.flatnonzero(mask_in[r]):
                index[(pid, cands[r, c])] = (r, c)
        probs = np.zeros(profile.mask.shape)
        scores = np.full(profile.mask.shape, np.nan)
        for p, pid in enumerate(profile.prompts):
            for c in np.flatnonzero(profile.mask[p]):
                key = (pid, profile.candidates[p, c])
                if key not in index:
                    raise DataError(f"lotteries[{name!r}]: no probability for prompt {key[0]!r}, response {key[1]!r}")
                probs[p, c] = probs_in[index[key]]
                if scores_in is not None:
                    scores[p, c] = scores_in[index[key]]
    else:
        probs = np.asarray(obj, dtype=np.float64)
        if probs.shape != profile.mask.shape:
            raise DataError(f"lotteries[{name!r}]: shape {probs.shape}, expected the profile's {profile.mask.shape}")
        scores = np.full(probs.shape, np.nan)
    probs = np.where(profile.mask, probs, 0.0)
    sums = probs.sum(axis=1)
    bad = ~np.isfinite(probs).all(axis=1) | (probs < -MASS_TOL).any(axis=1) | (np.abs(sums - 1) > 1e-6)
    if bad.any():
        p = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"lotteries[{name!r}]: prompt {profile.prompts[p]!r} has probabilities {probs[p].round(6).tolist()}; "
            "expected nonnegative numbers summing to 1 over the prompt's candidates"
        )
    return probs, scores


def audit(profile, rules=None, lotteries=None, options=None, n_spot=100, max_pmc=1000, random_state=0):
    """Tabulate each rule's (and each given lottery's) axioms, distortion, exploitability and worst-off type.

    Parameters
    ----------
    profile : Profile
    rules : sequence of str, optional
        Default: every registered rule the profile supports (read from the registry;
        the ones left out and why are in ``table.attrs["skipped"]``). ``[]``: none.
    lotteries : dict, optional
        Extra rows: name -> a :class:`Lottery`, a :class:`LotteryPosterior` (its mean), the
        policy :func:`mixpref.dpo.train_tabular` learned (a ``TabularPolicy``: anything with
        ``probs``, ``prompts``, ``candidates`` and ``mask``, aligned by prompt and response
        id), or an array (P, M) on the profile's grid.
    options : dict, optional
        Per-rule options, e.g. ``{"maximal_lottery": {"method": "selfplay"}}``.
    n_spot : int, default 100
        Prompts (drawn at random) used for the monotonicity spot checks.
    max_pmc : int, default 1000
        At most this many prompts (drawn at random among those whose majority is a linear
        order) for the re-applied rule in ``pmc_consistent``; all of them when fewer.
    random_state : int, default 0

    Returns
    -------
    pandas.DataFrame
        One row per rule, then per extra lottery (index ``rule``; ``kind`` is ``"rule"`` or
        ``"lottery"``). Counts are numbers of prompts; fractions and means are over prompts.

        * ``pareto_violations``: prompts where the lottery puts mass (> 1e-9) on a candidate
          that another candidate beats for every type with positive weight
          (``P_k(j beats i) > P_k(i beats j)`` for all k). ``strong_pareto_violations``: the
          same with weak dominance (every type at least weakly, one strictly).
          ``dominated_mass``: mean mass on unanimously beaten candidates.
        * ``condorcet_pooled_prompts`` / ``condorcet_pooled``: prompts with a Condorcet
          winner of the *pooled* relation (i beats j when ``P̄_ij > P̄_ji``, what one model
          fitted to everyone sees) / the fraction of them where the lottery puts all its
          mass (>= 1 - 1e-6) on it. ``condorcet_majority_prompts`` / ``condorcet_majority``:
          the same under the *weighted type-majority* relation (``Profile.majority``).
        * ``pmc_prompts`` / ``pmc_consistent``: pairwise-majority consistency (Ge et al.
          2024): prompts whose weighted type-majority relation is a strict linear order /
          the fraction of them where the rule's ranking is that order. A rule's ranking is
          read by re-applying it: its winner first, then the winner of the rule on the
          remaining candidates, and so on; a step agrees when the lottery puts all its
          mass on the top of the remaining order (so every Condorcet-consistent rule
          scores 1). A lottery passed in ranks by probability, then by its scores if it
          has any; ties are unordered, which counts as inconsistent.
          ``pmc_score_consistent``: the one-shot reading, candidates ordered by the rule's
          probability, then its score (for the ``pooled`` rule the fitted Bradley–Terry
          strengths: Ge et al.'s reward-model ranking); ties count as inconsistent, so
          lottery rules that score all losers alike fail it.
        * ``monotonicity_checked`` / ``monotonicity_violations``: spot checks (rules only,
          NaN for lotteries): on ``n_spot`` random prompts the lottery's most probable
          candidate is raised for every type (half of each type's probability of losing to
          any other candidate becomes winning, ties and other pairs unchanged; its rewards
          rise by log 2); a violation is a prompt where its probability then falls by more
          than 1e-6.
        * ``worst_type`` / ``worst_type_win_rate``: the type whose win rate is lowest and
          that win rate, averaged over the prompts where the type has positive weight. A
          type's win rate is the probability (ties half) that a draw from the lottery beats
          a uniformly random candidate of the prompt, by the type's preferences (the
          uniform lottery scores 1/2). ``mean_win_rate``: type-weighted.
        * ``distortion`` / ``distortion_max``: mean / largest over prompts of
          ``max_i SW(i) / SW(x)``, the utilitarian optimum over the lottery's expected
          welfare ``SW(x) = sum_k w_k sum_i x_i u_k(i)`` with the fitted utilities ``u_k(i)``
          = type k's win rate of candidate i (as above; always > 0). 1 is optimal.
        * ``distortion_worst_normalisation``: the same with the worst rescaling of each
          type's utilities (comparisons fix a type's utilities only up to a positive factor):
          the supremum over per-type scales ``a_k > 0`` of a ratio of linear forms in ``a``
          is reached with all scale on one type, giving ``max_k max_i u_k(i) / u_k(x)``
          (mean over prompts).
        * ``exploitability`` / ``max_exploitability``: mean / largest over prompts of the
          largest expected margin any candidate gets against the lottery under the pooled
          matrix (0 exactly at a maximal lottery).
        * ``support``: mean number of candidates with probability > 1e-9.

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> # voters a>b>c (3) and b>c>a (2): the majority order is a>b>c, Borda and BT put b first
    >>> rank = lambda r: np.array([[0.5 if i == j else float(r.index(i) < r.index(j)) for j in range(3)] for i in range(3)])
    >>> prof = mp.Profile(np.stack([rank([0, 1, 2]), rank([1, 2, 0])])[None], weights=[0.6, 0.4])
    >>> table = audit(prof, rules=["pooled", "maximal_lottery", "kemeny"])
    >>> table["pmc_consistent"].tolist(), table["condorcet_majority"].tolist()
    ([0.0, 1.0, 1.0], [0.0, 1.0, 1.0])
    """
    from . import rules as _rules  # noqa: F401 - importing the rules registers them
    from .registry import get_rule, rule_names

    if not isinstance(profile, Profile):
        raise DataError(f"profile: expected a mixpref Profile, got {type(profile).__name__}")
    options = dict(options or {})
    skipped = {}
    if rules is None:
        rules = []
        for name in rule_names():
            reason = get_rule(name).unmet(profile, options.get(name))
            if reason is None:
                rules.append(name)
            else:
                skipped[name] = reason
    specs = [get_rule(r) for r in rules]
    unknown = sorted(set(options) - {s.name for s in specs})
    if unknown:
        raise DataError(f"options: rules {unknown} are not among the rules audited {list(rules)}")

    mask = profile.mask
    rel_major = profile.majority()
    rel_pooled = _pooled_relation(profile)
    linear = _linear_orders(rel_major, mask)
    dominated = _unanimously_dominated(profile)
    weakly_dominated = pareto_dominated(profile.matrices, profile.weights, mask)
    pooled = profile.pooled()
    game = pooled - np.swapaxes(pooled, 1, 2)
    u = profile.utilities("winrate")  # (P, K, M)
    active = profile.weights > 0
    welfare = np.einsum("pk,pki->pi", profile.weights, u)
    best_welfare = np.where(mask, welfare, -np.inf).max(axis=1)
    best_u = np.where(mask[:, None, :], u, -np.inf).max(axis=2)  # (P, K)
    rng = np.random.default_rng(random_state)
    pmc_idx = np.flatnonzero(linear)
    if len(pmc_idx) > max_pmc:
        pmc_idx = np.sort(rng.choice(pmc_idx, size=max_pmc, replace=False))

    entries = []
    for spec in specs:
        opts = options.get(spec.name, {})
        spec.check_options(opts)
        probs, scores, _ = spec.compute(profile, **opts)
        entries.append((spec.name, "rule", probs, scores, spec, opts))
    for name, obj in (lotteries or {}).items():
        probs, scores = _as_probs(name, obj, profile)
        entries.append((str(name), "lottery", probs, scores, None, None))

    rows = []
    for name, kind, probs, scores, spec, opts in entries:
        row = {"rule": name, "kind": kind}
        mass = np.where(dominated, probs, 0.0).sum(axis=1)
        row["pareto_violations"] = int((mass > MASS_TOL).sum())
        row["strong_pareto_violations"] = int((np.where(weakly_dominated, probs, 0.0).sum(axis=1) > MASS_TOL).sum())
        row["dominated_mass"] = float(mass.mean())
        row["condorcet_pooled_prompts"], row["condorcet_pooled"] = _condorcet(rel_pooled, mask, probs)
        row["condorcet_majority_prompts"], row["condorcet_majority"] = _condorcet(rel_major, mask, probs)
        row["pmc_prompts"], row["pmc_consistent"] = int(linear.sum()), np.nan  # (column order)
        one_shot = _ranking_agrees(rel_major[linear], probs[linear], scores[linear], mask[linear])
        row["pmc_score_consistent"] = float(one_shot.mean()) if linear.any() else np.nan
        if not linear.any():
            pass
        elif spec is None:
            row["pmc_consistent"] = row["pmc_score_consistent"]
        else:
            row["pmc_consistent"] = float(_iterated_agrees(profile, spec, opts, pmc_idx, rel_major).mean())
        if spec is not None and n_spot > 0:
            row["monotonicity_checked"], row["monotonicity_violations"] = _monotonicity(profile, spec, opts, n_spot, rng)
        else:
            row["monotonicity_checked"], row["monotonicity_violations"] = np.nan, np.nan
        vs_uniform = np.einsum("pki,pi->pk", u, probs)
        type_means = np.array(
            [vs_uniform[active[:, k], k].mean() if active[:, k].any() else np.nan for k in range(profile.n_types)]
        )
        worst = int(np.nanargmin(type_means))
        row["worst_type"], row["worst_type_win_rate"] = worst, float(type_means[worst])
        row["mean_win_rate"] = float(np.einsum("pk,pk->p", profile.weights, vs_uniform).mean())
        ratio = best_welfare / np.einsum("pi,pi->p", welfare, probs)
        row["distortion"], row["distortion_max"] = float(ratio.mean()), float(ratio.max())
        worst_ratio = np.where(active, best_u / np.einsum("pki,pi->pk", u, probs), -np.inf).max(axis=1)
        row["distortion_worst_normalisation"] = float(worst_ratio.mean())
        expl = exploitability(game, probs, mask)
        row["exploitability"], row["max_exploitability"] = float(expl.mean()), float(expl.max())
        row["support"] = float(((probs > MASS_TOL) & mask).sum(axis=1).mean())
        rows.append(row)
    columns = ["rule", "kind", "pareto_violations"]  # an empty audit still has its columns
    table = pd.DataFrame(rows, columns=None if rows else columns).set_index("rule")
    table.attrs["skipped"] = skipped
    return table

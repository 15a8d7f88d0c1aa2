"""Conservative DPO targets from a :class:`~mixpref.aggregation.posterior.LotteryPosterior`.

A pair teaches the policy one preference, chosen over rejected. Its *support* is the
posterior probability of that preference: with ``labels="pairwise"`` the fraction of draws
whose pooled matrix prefers chosen to rejected (``P̄_s(c beats r) > P̄_s(r beats c)``); with
``labels="lottery"`` the fraction of draws whose own lottery gives chosen more mass than
rejected (ties half). Pairs whose support is below ``confidence`` are **dropped** (not
down-weighted: a down-weighted pair still teaches the unsupported direction, only more
slowly), and each prompt's remaining weights are renormalised to sum to 1. With
``soft_labels="lower"`` the pairwise label is the ``1 - confidence`` quantile over draws of
``(1 + P̄_s(c beats r) - P̄_s(r beats c)) / 2`` (a lower credible bound: the label is only as
confident as the data make it at that level).

Examples
--------
>>> import numpy as np, mixpref as mp
>>> rng = np.random.default_rng(0)
>>> rewards = np.array([[[2.0, 0.0, 0.05]]])                          # 1 prompt, 1 type, 3 candidates
>>> draws = rewards + 0.5 * rng.normal(size=(200, 1, 1, 3))
>>> post = mp.aggregate(mp.Profile.from_rewards(rewards, [1.0], reward_samples=draws), "borda", posterior=True)
>>> pairs = mp.to_dpo_pairs(post, strategy="all_pairs", confidence=0.9)
>>> sorted(pairs[["chosen_id", "rejected_id"]].values.tolist())        # 2 vs 0.05 is sure, 0.05 vs 0 is not
[[0, 1], [0, 2]]
>>> bool((pairs["support"] >= 0.9).all()), float(pairs["weight"].sum())
(True, 1.0)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError

SOFT_LABELS = ("mean", "lower")


def check_posterior(posterior):
    """``posterior`` itself, or a DataError unless it is a LotteryPosterior."""
    if not (hasattr(posterior, "draws") and hasattr(posterior, "mean") and hasattr(posterior, "preference_probability")):
        raise DataError(
            f"lottery: got {type(posterior).__name__}; expected a LotteryPosterior "
            "(mp.aggregate(profile, rule, posterior=True)) for confidence= or soft_labels='lower'"
        )
    return posterior


def _level(confidence):
    if confidence is None:
        return None
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        raise DataError(f"confidence: got {confidence!r}; expected a credible level in (0, 1)") from None
    if not 0 < value < 1:
        raise DataError(f"confidence: got {confidence!r}; expected a credible level in (0, 1)")
    return value


def pair_support(posterior, labels="pairwise"):
    """Posterior probability of each ordered preference, (P, M, M): entry (p, i, j) is the
    probability that the preference "i over j" a pair would teach holds (see the module)."""
    check_posterior(posterior)
    if labels == "lottery":
        d = posterior.draws  # (S, P, M)
        diff = d[:, :, :, None] - d[:, :, None, :]
        # an LP's equal masses differ by rounding: within 1e-9 is a tie, counted half
        out = ((diff > 1e-9) + 0.5 * (np.abs(diff) <= 1e-9)).mean(axis=0)
    else:
        pooled = posterior._profile.pooled_samples()  # (S, P, M, M)
        gap = pooled - np.swapaxes(pooled, -1, -2)
        out = ((gap > 0) + 0.5 * (gap == 0)).mean(axis=0)
    pair = posterior.mask[:, :, None] & posterior.mask[:, None, :] & ~np.eye(posterior.mask.shape[1], dtype=bool)
    return np.where(pair, out, 0.0)


def lower_soft_labels(posterior, confidence):
    """The ``1 - confidence`` quantile over draws of the half-tie pooled preference, (P, M, M)."""
    check_posterior(posterior)
    pooled = posterior._profile.pooled_samples()
    half = 0.5 * (1.0 + pooled - np.swapaxes(pooled, -1, -2))
    return np.quantile(half, 1.0 - confidence, axis=0)


def keep_supported(posterior, pairs, confidence=0.9, soft_labels="mean", labels=None, beta=None, reference=None):
    """Filter and relabel DPO pairs built from ``posterior.mean`` (what ``mp.to_dpo_pairs`` does
    with a LotteryPosterior and ``confidence=``).

    Parameters
    ----------
    posterior : LotteryPosterior
        From ``mp.aggregate(profile, rule, posterior=True)``.
    pairs : pandas.DataFrame
        ``mp.to_dpo_pairs(posterior.mean, ...)``.
    confidence : float in (0, 1) or None, default 0.9
        Drop pairs whose support (posterior probability of the preference they teach) is
        below this; None keeps every pair (and still reports ``support``).
    soft_labels : {"mean", "lower"}
        ``"mean"``: the labels of the mean lottery; ``"lower"``: ``p_chosen`` is the
        ``1 - confidence`` credible lower bound of the pooled head-to-head preference
        (needs ``labels="pairwise"``, the default, and a ``confidence``).
    labels, beta, reference
        As given to :func:`mixpref.to_dpo_pairs` (they decide which support is meant).

    Returns
    -------
    pandas.DataFrame
        ``pairs`` with a ``support`` column, filtered; ``DataFrame.attrs``:
        ``n_candidate_pairs`` (before the filter), ``n_kept``, ``confidence``.
    """
    check_posterior(posterior)
    level = _level(confidence)
    if soft_labels not in SOFT_LABELS:
        raise DataError(f"soft_labels: got {soft_labels!r}, expected one of {', '.join(SOFT_LABELS)}")
    if labels is None:
        labels = "lottery" if (beta is not None or reference is not None) else "pairwise"
    if soft_labels == "lower" and (labels != "pairwise" or level is None):
        raise DataError("soft_labels='lower': needs labels='pairwise' (head-to-head labels) and a confidence level")
    pairs = pairs.copy()
    n_before = len(pairs)
    prompt_pos = pd.Index(posterior.prompts).get_indexer(pairs["prompt_id"])
    slot = _slots(posterior, prompt_pos, pairs)
    support = pair_support(posterior, labels)
    pairs["support"] = support[prompt_pos, slot["chosen"], slot["rejected"]]
    if soft_labels == "lower":
        pairs["p_chosen"] = lower_soft_labels(posterior, level)[prompt_pos, slot["chosen"], slot["rejected"]]
    if level is not None:
        keep = pairs["support"].to_numpy() >= level - 1e-12
        pairs = pairs.loc[keep].reset_index(drop=True)
        # each prompt's weights sum to 1 again (to_dpo_pairs' invariant)
        pairs["weight"] = 1.0 / pairs.groupby("prompt_id", sort=False)["prompt_id"].transform("size").astype(float)
    pairs.attrs.update(n_candidate_pairs=n_before, n_kept=len(pairs), confidence=level)
    return pairs


def _slots(posterior, prompt_pos, pairs):
    """Candidate slots of each pair's chosen and rejected response."""
    cand = np.asarray(posterior.candidates, dtype=object)
    out = {}
    for side in ("chosen", "rejected"):
        ids = pairs[f"{side}_id"].to_numpy(dtype=object)
        idx = np.empty(len(ids), dtype=np.int64)
        for n, (p, rid) in enumerate(zip(prompt_pos, ids)):
            hit = np.flatnonzero((cand[p] == rid) & posterior.mask[p])
            idx[n] = hit[0]
        out[side] = idx
    return out

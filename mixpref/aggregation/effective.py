"""Posterior reward draws of a profile and the ensemble's effective (risk-adjusted) reward.

"A Unifying Lens on Reward Uncertainty" reads an ensemble (or posterior) of reward models
through one exponential-utility certainty equivalent per candidate:
``r_eff = sign * beta * log E_s[exp(sign * r_s / beta)]`` over the draws s. With
``sign=-1`` (pessimistic) ``beta -> 0`` gives the worst draw and ``beta -> inf`` the mean;
with ``sign=+1`` (optimistic) ``beta -> 0`` gives the best draw.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

NO_DRAWS = (
    "this profile has no posterior draws; fit the model with inference='svi', 'ensemble' or "
    "'laplace' and build the profile with model.profile(...), or pass samples=... to Profile "
    "(reward_samples=... to Profile.from_rewards)"
)
# log-odds of a probability at this distance from 0 or 1 are the largest we trust (float64)
_PROB_FLOOR = 1e-15


def reward_draws(profile):
    """Per-draw, per-type rewards of each candidate, (S, P, K, M); 0 at padding.

    Uses ``profile.reward_samples`` when the profile keeps them. Otherwise the rewards are
    read back from the sampled matrices: under Bradley–Terry (and Davidson ties)
    ``log P_s(i beats j) - log P_s(j beats i) = r_si - r_sj``, so each draw's rewards are
    known up to one constant per prompt and type (comparisons never identify it). That
    constant is set so every draw has the point rewards' mean over the prompt's candidates
    (0 when the profile has no rewards): the draws then differ only where the data speak.

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> draws = np.array([[[[0.0, 1.0]]], [[[0.0, 3.0]]]])          # 2 draws, 1 prompt, 1 type
    >>> prof = mp.Profile.from_rewards(np.array([[[0.0, 2.0]]]), [1.0], reward_samples=draws)
    >>> np.round(reward_draws(prof)[:, 0, 0], 6).tolist()
    [[0.5, 1.5], [-0.5, 2.5]]
    """
    stored = getattr(profile, "reward_samples", None)
    if stored is not None:
        return np.asarray(stored, dtype=np.float64)
    if profile.samples is None:
        raise DataError(f"Profile samples: {NO_DRAWS}")
    mask = profile.mask
    n = profile.n_candidates[None, :, None, None]
    out = np.empty(profile.samples.shape[:-1])
    # one draw at a time: the log-odds array is as large as the samples themselves
    for s, mats in enumerate(profile.samples):
        p = np.clip(mats, _PROB_FLOOR, 1.0)
        logodds = np.log(p) - np.log(np.swapaxes(p, -1, -2))
        out[s] = np.where(mask[:, None, None, :], logodds, 0.0).sum(-1) / n[0]
    if profile.rewards is not None:
        level = (profile.rewards * mask[:, None, :]).sum(-1, keepdims=True) / n[0]
        out = out + level[None]
    return np.where(mask[None, :, None, :], out, 0.0)


def effective_rewards(draws, beta, sign=-1, axis=0):
    """``sign * beta * log mean_s exp(sign * r_s / beta)`` over ``axis`` (the draws).

    ``beta=0`` is the limit: the minimum (``sign=-1``) or maximum (``sign=+1``) over draws;
    ``beta=inf`` is the mean. Computed with ``logsumexp`` (no overflow for small beta).

    Examples
    --------
    >>> import numpy as np
    >>> r = np.array([0.0, 1.0, 2.0])
    >>> [round(float(effective_rewards(r, b)), 4) for b in (0, 1e-3, 1.0, 1e6, np.inf)]
    [0.0, 0.0011, 0.691, 1.0, 1.0]
    """
    from scipy.special import logsumexp

    draws = np.asarray(draws, dtype=np.float64)
    if sign not in (-1, 1):
        raise DataError(f"sign: got {sign!r}; expected -1 (pessimistic) or +1 (optimistic)")
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise DataError(f"beta: got {beta!r}; expected a number >= 0 (0: worst/best draw, inf: mean)") from None
    if not beta >= 0:
        raise DataError(f"beta: got {beta}; expected a number >= 0 (0: worst/best draw, inf: mean)")
    if beta == 0:
        return draws.min(axis=axis) if sign < 0 else draws.max(axis=axis)
    if np.isinf(beta):
        return draws.mean(axis=axis)
    n = draws.shape[axis]
    return sign * beta * (logsumexp(sign * draws / beta, axis=axis) - np.log(n))


def effective_profile(profile, beta, sign=-1, reward_samples=None):
    """A point profile whose per-type rewards are the draws' effective reward.

    Parameters
    ----------
    profile : Profile
        With posterior draws (``samples``, e.g. from a model fitted with
        ``inference="svi"``, ``"ensemble"`` or ``"laplace"``).
    beta : float >= 0
        Risk scale: 0 is the worst (``sign=-1``) or best (``sign=+1``) draw of each
        candidate's reward, ``inf`` the posterior mean; in between, the exponential-utility
        certainty equivalent.
    sign : {-1, +1}, default -1
        -1: conservative (the ensemble reward used against reward hacking); +1: optimistic.
    reward_samples : array-like (S, P, K, M), optional
        The draws' rewards on the profile's grid (e.g. ``model.sample_rewards`` laid out
        like the profile); default :func:`reward_draws`. Pass them when the reward level of
        each draw matters: the matrices alone identify each draw's rewards only up to a
        shift per prompt and type.

    Returns
    -------
    Profile
        Bradley–Terry matrices of the effective rewards (``Profile.from_rewards``), the same
        weights, candidates and prompts, no draws.

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> draws = np.array([[[[0.0, 1.0]]], [[[0.0, 3.0]]]])   # 2 draws, 1 prompt, 1 type, 2 candidates
    >>> prof = mp.Profile.from_rewards(np.array([[[0.0, 2.0]]]), [1.0], reward_samples=draws)
    >>> effective_profile(prof, beta=0.0).rewards.round(3).tolist()   # each candidate's worst draw
    [[[-0.5, 1.5]]]
    >>> effective_profile(prof, beta=np.inf).rewards.round(3).tolist()   # the mean
    [[[0.0, 2.0]]]
    """
    from .profile import Profile

    if not isinstance(profile, Profile):
        raise DataError(f"profile: expected a mixpref Profile, got {type(profile).__name__}")
    if reward_samples is None:
        draws = reward_draws(profile)
    else:
        draws = np.asarray(reward_samples, dtype=np.float64)
        if draws.ndim != 4 or draws.shape[1:] != tuple(profile.shape):
            raise DataError(
                f"reward_samples: shape {draws.shape}, expected (draws, {', '.join(map(str, profile.shape))})"
            )
    eff = effective_rewards(draws, beta, sign=sign, axis=0)
    return Profile.from_rewards(
        eff, profile.weights, candidates=profile.candidates, prompts=profile.prompts, mask=profile.mask
    )

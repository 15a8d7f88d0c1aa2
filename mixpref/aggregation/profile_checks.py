"""Checks and padding for the arrays a :class:`~mixpref.aggregation.profile.Profile` is built from."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import DataError

# how far P(i>j) + P(j>i) may stray from 1 (or above 1 with ties) before it is an error
DEFAULT_ATOL = 1e-6


def _is_ragged(value):
    return isinstance(value, (list, tuple)) and not isinstance(value, np.ndarray)


def _as_float(value, name):
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"Profile {name}: expected numbers ({err})") from None


def _pad_ragged(items, name, n_square, lead, fill):
    """Stack per-prompt arrays whose last ``n_square`` axes have length M_p into one padded array.

    ``lead`` is the number of leading axes of each item (types, samples) kept as they are.
    Returns the padded array with the prompt axis first among the per-item axes' positions
    handled by the caller, and the per-prompt sizes.
    """
    arrays = [_as_float(a, f"{name}[{p}]") for p, a in enumerate(items)]
    if not arrays:
        raise DataError(f"Profile {name}: got an empty list; expected one array per prompt")
    sizes = []
    for p, a in enumerate(arrays):
        if a.ndim != lead + n_square:
            raise DataError(
                f"Profile {name}[{p}]: expected {lead + n_square} axes, got shape {a.shape}"
            )
        m = a.shape[-1]
        if any(s != m for s in a.shape[lead:]):
            raise DataError(f"Profile {name}[{p}]: candidate axes differ in length, shape {a.shape}")
        if a.shape[:lead] != arrays[0].shape[:lead]:
            raise DataError(
                f"Profile {name}[{p}]: leading shape {a.shape[:lead]} differs from prompt 0's "
                f"{arrays[0].shape[:lead]}; expected the same number of types (and samples) per prompt"
            )
        sizes.append(m)
    m_max = max(sizes)
    out = np.full((len(arrays), *arrays[0].shape[:lead], *([m_max] * n_square)), fill, dtype=np.float64)
    for p, a in enumerate(arrays):
        m = a.shape[-1]
        out[(p, *([slice(None)] * lead), *([slice(0, m)] * n_square))] = a
    return out, np.asarray(sizes)


def _check_matrices(mats, pair_mask, name, ties, atol):
    """Validate pairwise-probability arrays ``(..., M, M)`` on the valid pairs; return a clean copy.

    ``pair_mask`` broadcasts against ``mats`` and is True on valid off-diagonal pairs.
    """
    mats = np.array(mats, dtype=np.float64, copy=True)
    valid = np.broadcast_to(pair_mask, mats.shape)
    bad = valid & ~np.isfinite(mats)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"Profile {name}{list(idx)}: got {mats[idx]}; expected a probability in [0, 1]")
    bad = valid & ((mats < -atol) | (mats > 1 + atol))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"Profile {name}{list(idx)}: got {mats[idx]}; expected a probability in [0, 1]")
    total = mats + np.swapaxes(mats, -1, -2)
    bad = valid & ((total > 1 + atol) if ties else (np.abs(total - 1) > atol))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        swapped = (*idx[:-2], idx[-1], idx[-2])
        expected = "<= 1 (ties modelled)" if ties else "= 1 (pass ties=True when ties are modelled: then <= 1)"
        raise DataError(
            f"Profile {name}{list(idx)} = {mats[idx]:.6g} and {name}{list(swapped)} = {mats[swapped]:.6g} "
            f"sum to {total[idx]:.6g}; expected P(i beats j) + P(j beats i) {expected}"
        )
    mats = np.clip(mats, 0.0, 1.0)
    # the diagonal and padding carry no preference: 1/2 keeps P - P^T zero there and makes
    # "i against itself" a coin flip in win rates
    mats[~valid] = 0.5
    return mats


def build_candidates(candidates, mask):
    """Response ids as a (P, M) object array (None at padding), checked against ``mask``."""
    n_prompts, n_cands = mask.shape
    out = np.full((n_prompts, n_cands), None, dtype=object)
    if candidates is None:
        for p in range(n_prompts):
            idx = np.flatnonzero(mask[p])
            out[p, idx] = list(range(len(idx)))
        return out
    if isinstance(candidates, np.ndarray) and candidates.ndim == 2:
        if candidates.shape != (n_prompts, n_cands):
            raise DataError(f"Profile candidates: shape {candidates.shape}, expected {(n_prompts, n_cands)}")
        rows = [list(candidates[p][mask[p]]) for p in range(n_prompts)]
    else:
        rows = [list(r) for r in candidates]
        if len(rows) != n_prompts:
            raise DataError(f"Profile candidates: {len(rows)} rows for {n_prompts} prompts")
        for p, r in enumerate(rows):
            if len(r) == n_cands:
                rows[p] = [c for c, ok in zip(r, mask[p]) if ok]
    for p, r in enumerate(rows):
        n_valid = int(mask[p].sum())
        if len(r) != n_valid:
            raise DataError(
                f"Profile candidates: prompt {p} has {len(r)} ids for {n_valid} candidates; expected one id each"
            )
        if any(c is None for c in r):
            raise DataError(f"Profile candidates: prompt {p} has a missing id (None) at a real candidate")
        if len(set(r)) != len(r):
            raise DataError(f"Profile candidates: prompt {p} repeats a response id in {r}")
        out[p, np.flatnonzero(mask[p])] = r
    return out


def build_texts(texts, candidates, mask):
    """Readable texts as a (P, M) object array (None where unknown and at padding).

    ``texts`` is a mapping ``response_id -> text``, or an array-like (P, M) / list of P rows
    laid out like ``candidates``.
    """
    if texts is None:
        return None
    n_prompts, n_cands = mask.shape
    out = np.full((n_prompts, n_cands), None, dtype=object)
    if isinstance(texts, pd.Series):
        texts = texts.to_dict()
    if isinstance(texts, Mapping):
        for p, i in zip(*np.nonzero(mask)):
            out[p, i] = _text(texts.get(candidates[p, i]))
        return out
    if isinstance(texts, np.ndarray) and texts.ndim == 2:
        if texts.shape != (n_prompts, n_cands):
            raise DataError(f"Profile texts: shape {texts.shape}, expected {(n_prompts, n_cands)} like the candidates")
        rows = [list(texts[p][mask[p]]) for p in range(n_prompts)]
    else:
        rows = [list(r) for r in texts]
        if len(rows) != n_prompts:
            raise DataError(f"Profile texts: {len(rows)} rows for {n_prompts} prompts; expected one row per prompt")
        rows = [[t for t, ok in zip(r, mask[p]) if ok] if len(r) == n_cands else r for p, r in enumerate(rows)]
    for p, r in enumerate(rows):
        n_valid = int(mask[p].sum())
        if len(r) != n_valid:
            raise DataError(f"Profile texts: prompt {p} has {len(r)} texts for {n_valid} candidates; expected one each")
        out[p, np.flatnonzero(mask[p])] = [_text(t) for t in r]
    return out


def _text(value):
    """A text as str; None (or NaN, a missing value from pandas) when unknown."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def bradley_terry_matrices(rewards, reward_samples=None):
    """``(matrices, rewards, samples)`` for :meth:`Profile.from_rewards`: ``sigmoid(r_i - r_j)`` per type.

    Ragged inputs (lists of per-prompt arrays) stay lists; NaN padding becomes 0 before the
    sigmoid (it is masked out by the profile).
    """
    from scipy.special import expit

    def to_matrices(r):
        return expit(r[..., :, None] - r[..., None, :])

    if _is_ragged(rewards):
        r_list = [_as_float(r, f"rewards[{p}]") for p, r in enumerate(rewards)]
        for p, r in enumerate(r_list):
            if r.ndim != 2:
                raise DataError(f"Profile.from_rewards rewards[{p}]: expected shape (types, candidates), got {r.shape}")
        mats = [to_matrices(np.nan_to_num(r)) for r in r_list]
        rewards_in = r_list
    else:
        r = _as_float(rewards, "rewards")
        if r.ndim != 3:
            raise DataError(f"Profile.from_rewards rewards: expected shape (prompts, types, candidates), got {r.shape}")
        # padding may hold NaN; it is masked out after construction
        mats = to_matrices(np.nan_to_num(r))
        rewards_in = r
    samples = None
    if reward_samples is not None:
        if _is_ragged(reward_samples):
            samples = [to_matrices(np.nan_to_num(_as_float(s, f"reward_samples[{p}]"))) for p, s in enumerate(reward_samples)]
        else:
            s = _as_float(reward_samples, "reward_samples")
            if s.ndim != 4:
                raise DataError(
                    f"Profile.from_rewards reward_samples: expected shape (samples, prompts, types, candidates), got {s.shape}"
                )
            samples = to_matrices(np.nan_to_num(s))
    return mats, rewards_in, samples

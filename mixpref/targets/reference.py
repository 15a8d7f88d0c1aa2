"""A reference policy aligned with a candidate grid, as log-probabilities.

DPO's optimum is the reference tilted by the reward, so both the soft labels that make a
lottery DPO's optimum (:func:`mixpref.to_dpo_pairs` with ``beta``) and the tabular trainer
read the reference the same way; this is its one home.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError


def grid_lookup(prompts, cand, mask, pids, rids):
    """Flat (row, column) positions of (prompt id, response id) keys in the grid; -1 if absent."""
    rows, cols = np.nonzero(mask)
    index = pd.MultiIndex.from_arrays([np.asarray(prompts, dtype=object)[rows], cand[rows, cols]])
    keys = pd.MultiIndex.from_arrays([np.asarray(pids, dtype=object), np.asarray(rids, dtype=object)])
    found = index.get_indexer(keys)
    return np.where(found >= 0, rows[found], -1), np.where(found >= 0, cols[found], -1)


def reference_logprobs(reference, prompts, cand, mask):
    """Log-probabilities (P, M) of the reference over each prompt's candidates; -inf at padding.

    Parameters
    ----------
    reference : None, array (P, M), object with ``probs``, or DataFrame
        ``None``: uniform. An array or ``.probs``: probabilities aligned with the grid. A
        DataFrame [``prompt_id``, ``response_id``] with ``prob`` or ``logprob`` (e.g. a
        reference LM's summed sequence log-probabilities; only differences within a prompt
        matter, so they need not be normalised over the candidates).
    prompts, cand, mask
        The candidate grid (``lottery.prompts``, ``lottery.candidates``, ``lottery.mask``).

    Returns
    -------
    ndarray (P, M), float64
        Normalised over each prompt's candidates.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.ones((1, 2), dtype=bool)
    >>> np.exp(reference_logprobs(None, [0], np.array([["a", "b"]], dtype=object), mask)).tolist()
    [[0.5, 0.5]]
    """
    mask = np.asarray(mask, dtype=bool)
    if reference is None:
        logp = np.where(mask, 0.0, -np.inf)
    elif isinstance(reference, pd.DataFrame):
        column = "logprob" if "logprob" in reference.columns else "prob"
        missing = [c for c in ("prompt_id", "response_id", column) if c not in reference.columns]
        if missing:
            raise DataError(
                f"reference: missing column(s) {missing}; expected 'prompt_id', 'response_id' and 'prob' or 'logprob' "
                f"(got {list(reference.columns)})"
            )
        i, j = grid_lookup(prompts, cand, mask, reference["prompt_id"], reference["response_id"])
        absent = np.flatnonzero(i < 0)
        if absent.size:
            row = int(absent[0])
            raise DataError(
                f"reference, row {row}: response {reference['response_id'].iloc[row]!r} of prompt "
                f"{reference['prompt_id'].iloc[row]!r} is not among the candidates"
            )
        values = pd.to_numeric(reference[column], errors="coerce").to_numpy(dtype=np.float64)
        if column == "prob":
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.log(values)
        logp = np.full(mask.shape, np.nan)
        logp[i, j] = values
        _check_finite(logp, mask, prompts, cand, column)
    else:
        probs = np.asarray(getattr(reference, "probs", reference), dtype=np.float64)
        if probs.shape != mask.shape:
            raise DataError(f"reference: got shape {probs.shape}, expected {mask.shape} (prompts x candidates)")
        with np.errstate(divide="ignore", invalid="ignore"):
            logp = np.log(probs)
        _check_finite(logp, mask, prompts, cand, "prob")
    logp = np.where(mask, logp, -np.inf)
    # normalise per prompt (log-sum-exp over real candidates)
    top = np.max(np.where(mask, logp, -np.inf), axis=1, keepdims=True)
    norm = top + np.log(np.where(mask, np.exp(logp - top), 0.0).sum(1, keepdims=True))
    return np.where(mask, logp - norm, -np.inf)


def _check_finite(logp, mask, prompts, cand, column):
    bad = mask & ~np.isfinite(logp)
    if bad.any():
        p, m = np.argwhere(bad)[0]
        what = "a probability > 0" if column == "prob" else "a finite log-probability"
        raise DataError(
            f"reference: prompt {list(prompts)[p]!r}, candidate {cand[p, m]!r}: missing or invalid {column}; expected {what}"
        )

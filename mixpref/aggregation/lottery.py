"""A lottery: one distribution over each prompt's candidates, the output of a rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError

# characters of a response's text shown in tables a person reads
TEXT_WIDTH = 80


def truncate_text(text, width=TEXT_WIDTH):
    """``text`` on one line, cut to ``width`` characters with an ellipsis (None stays None).

    Examples
    --------
    >>> truncate_text("a very long argument " * 3, width=20)
    'a very long argumen…'
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Lottery:
    """The result of :func:`mixpref.aggregate`: a distribution over each prompt's candidates.

    Parameters
    ----------
    probs : ndarray (P, M)
        Probabilities; 0 at padding, each row sums to 1.
    scores : ndarray (P, M)
        The rule's per-candidate scores (what "score" means is in each rule's docstring);
        NaN at padding.
    rule : str
    metadata : dict, optional
        Rule details (options, exploitability, solver info).
    prompts, candidates, mask
        Copied from the profile.
    pairwise : ndarray (P, M, M), optional
        The profile's pooled matrix ``P̄(i beats j)``, so that targets can compute
        ``P(chosen beats rejected)`` and each candidate's win probability against the
        lottery (``pairwise @ probs``).
    texts : ndarray (P, M) of object, optional
        Readable text (or item name) of each candidate, copied from the profile; shown
        beside ``response_id`` in :meth:`to_frame`.

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> prof = mp.Profile(np.array([[[[0.5, 0.8], [0.2, 0.5]]]]), weights=[1.0], candidates=[["x", "y"]])
    >>> lot = mp.aggregate(prof, "borda")
    >>> lot.to_frame()[["response_id", "prob"]].values.tolist()
    [['x', 1.0], ['y', 0.0]]
    """

    def __init__(
        self, probs, scores, rule, metadata=None, prompts=None, candidates=None, mask=None, pairwise=None, texts=None
    ):
        self.probs = _floats(probs, "probs")
        if self.probs.ndim != 2:
            raise DataError(f"Lottery probs: expected shape (prompts, candidates), got {self.probs.shape}")
        n_prompts, n_cands = self.probs.shape
        self.scores = _floats(scores, "scores")
        if self.scores.shape != self.probs.shape:
            raise DataError(f"Lottery scores: shape {self.scores.shape}, expected {self.probs.shape} like probs")
        self.rule = str(rule)
        self.metadata = dict(metadata or {})
        self.mask = np.ones((n_prompts, n_cands), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if self.mask.shape != self.probs.shape:
            raise DataError(f"Lottery mask: shape {self.mask.shape}, expected {self.probs.shape} like probs")
        bad = self.mask & ~(np.isfinite(self.probs) & (self.probs >= -1e-9))
        if bad.any():
            p, i = (int(v) for v in np.argwhere(bad)[0])
            raise DataError(f"Lottery probs[{p}, {i}]: got {self.probs[p, i]}; expected a probability >= 0")
        self.prompts = pd.RangeIndex(n_prompts, name="prompt_id") if prompts is None else prompts
        if candidates is None:
            candidates = np.full((n_prompts, n_cands), None, dtype=object)
            for p in range(n_prompts):
                idx = np.flatnonzero(self.mask[p])
                candidates[p, idx] = list(range(len(idx)))
        self.candidates = candidates
        self.pairwise = None if pairwise is None else _floats(pairwise, "pairwise")
        if self.pairwise is not None and self.pairwise.shape != (n_prompts, n_cands, n_cands):
            raise DataError(f"Lottery pairwise: shape {self.pairwise.shape}, expected {(n_prompts, n_cands, n_cands)}")
        self.texts = None if texts is None else np.asarray(texts, dtype=object)
        if self.texts is not None and self.texts.shape != self.probs.shape:
            raise DataError(f"Lottery texts: shape {self.texts.shape}, expected {self.probs.shape} like probs")

    def __len__(self):
        return self.probs.shape[0]

    def __repr__(self):
        return f"Lottery(rule={self.rule!r}, {self.probs.shape[0]} prompts, up to {self.probs.shape[1]} candidates)"

    def win_probabilities(self):
        """Each candidate's half-tie win rate against a draw from the lottery, (P, M); NaN at padding.

        ``sum_j probs_j (1 + P̄_ij - P̄_ji) / 2`` under the pooled matrix.
        """
        if self.pairwise is None:
            raise DataError("Lottery pairwise: this lottery carries no pooled matrix (build it with mp.aggregate)")
        w = 0.5 * (1.0 + self.pairwise - np.swapaxes(self.pairwise, -1, -2))
        out = np.einsum("pij,pj->pi", w, self.probs)
        return np.where(self.mask, out, np.nan)

    def exploitability(self):
        """Per prompt, the largest expected margin any candidate gets against the lottery, (P,).

        ``max_i sum_j probs_j (P̄_ij - P̄_ji)``: 0 exactly at a maximal lottery, and
        at most 1.
        """
        if self.pairwise is None:
            raise DataError("Lottery pairwise: this lottery carries no pooled matrix (build it with mp.aggregate)")
        from .selfplay import exploitability

        return exploitability(self.pairwise - np.swapaxes(self.pairwise, -1, -2), self.probs, self.mask)

    def top(self):
        """Each prompt's most probable candidate (first on ties), as a Series indexed by prompt id."""
        probs = np.where(self.mask, self.probs, -1.0)
        idx = probs.argmax(axis=1)
        return pd.Series(self.candidates[np.arange(len(idx)), idx], index=self.prompts, name="response_id")

    def to_frame(self):
        """Long table with one row per real candidate: ``prompt_id, response_id, prob, score``.

        When the candidates' texts are known, a ``text`` column (one line, at most
        :data:`TEXT_WIDTH` characters) follows ``response_id``.
        """
        p_idx, c_idx = np.nonzero(self.mask)
        columns = {
            "prompt_id": np.asarray(self.prompts)[p_idx],
            "response_id": self.candidates[p_idx, c_idx],
        }
        if self.texts is not None:
            columns["text"] = [truncate_text(t) for t in self.texts[p_idx, c_idx]]
        columns["prob"] = self.probs[p_idx, c_idx]
        columns["score"] = self.scores[p_idx, c_idx]
        return pd.DataFrame(columns)


def _floats(value, name):
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"Lottery {name}: expected numbers ({err})") from None

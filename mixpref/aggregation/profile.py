"""A preference profile: per-prompt, per-type pairwise preference matrices over candidates."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from ..errors import DataError
from .profile_io import load_profile, save_profile
from .profile_checks import (
    DEFAULT_ATOL,
    _as_float,
    _check_matrices,
    _is_ragged,
    _pad_ragged,
    bradley_terry_matrices,
    build_candidates,
    build_texts,
)

# a margin this small counts as a tie in the majority relation (float noise, not a preference)
MARGIN_TOL = 1e-9


class Profile:
    """Per-prompt, per-type pairwise preferences over a prompt's candidate responses.

    For prompt ``p`` with candidates ``0..M_p-1`` and annotator types ``k = 0..K-1`` with
    weights ``w_pk``, ``matrices[p, k, i, j]`` is type k's probability that candidate i
    beats candidate j. Every rule in :func:`mixpref.aggregate` reads a profile.

    Parameters
    ----------
    matrices : array-like (P, K, M, M) or list of P arrays (K, M_p, M_p)
        ``P_k(i beats j)``. Entries in [0, 1]; off the diagonal ``P_ij + P_ji = 1``, or
        ``<= 1`` when ``ties=True`` (the rest is the tie probability). A list with
        different ``M_p`` is padded to ``M = max M_p`` and ``mask`` is set. The diagonal and
        padding carry no preference and are stored as 1/2.
    weights : array-like (K,) or (P, K)
        Nonnegative type weights, each row summing to 1; stored as (P, K).
    candidates : array-like (P, M) or list of P sequences, optional
        Response ids of each prompt's candidates (default: ``0..M_p-1``); ``None`` at padding.
    prompts : sequence, optional
        Prompt ids, length P (default: ``RangeIndex(P)``).
    rewards : array-like (P, K, M) or list of P arrays (K, M_p), optional
        Per-type rewards, for the cardinal rules (``utilitarian``; ``utility="reward"``).
        Padding is stored as 0.
    samples : array-like (S, P, K, M, M) or list of P arrays (S, K, M_p, M_p), optional
        Posterior samples of ``matrices`` (for the ``quantile`` rule).
    mask : array-like (P, M) of bool, optional
        True where a candidate exists. Entries of the other arrays at masked-out positions
        are ignored (they may be NaN).
    ties : bool, default False
        Whether the matrices model ties (``P_ij + P_ji <= 1``).
    atol : float, default 1e-6
        Tolerance of the checks above.
    texts : mapping or array-like (P, M) or list of P sequences, optional
        Readable text (or item name) of each candidate: a mapping ``response_id -> text``,
        or laid out like ``candidates``. Lotteries inherit them and show them beside the
        ids (``Lottery.to_frame()``'s ``text`` column).

    Attributes
    ----------
    matrices : ndarray (P, K, M, M)
    weights : ndarray (P, K)
    candidates : ndarray (P, M) of object
    prompts : pandas.Index
    rewards, samples : ndarray or None
    mask : ndarray (P, M) of bool
    texts : ndarray (P, M) of object or None
        Candidate texts (None where unknown).

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> cycle = np.array([[0.5, 1, 0], [0, 0.5, 1], [1, 0, 0.5]])   # a beats b beats c beats a
    >>> prof = mp.Profile(cycle[None, None], weights=[1.0])
    >>> prof.shape
    (1, 1, 3)
    >>> prof.pooled()[0, 0]
    array([0.5, 1. , 0. ])
    """

    def __init__(
        self,
        matrices,
        weights,
        candidates=None,
        prompts=None,
        rewards=None,
        samples=None,
        mask=None,
        ties=False,
        atol=DEFAULT_ATOL,
        texts=None,
    ):
        # ---- matrices and mask
        if _is_ragged(matrices):
            mats, sizes = _pad_ragged(matrices, "matrices", n_square=2, lead=1, fill=0.5)
            ragged_mask = np.arange(mats.shape[-1])[None, :] < sizes[:, None]
            if mask is not None:
                mask = np.asarray(mask, dtype=bool)
                if mask.shape != ragged_mask.shape:
                    raise DataError(
                        f"Profile mask: shape {mask.shape}, expected {ragged_mask.shape} (prompts, max candidates)"
                    )
                mask = mask & ragged_mask
            else:
                mask = ragged_mask
        else:
            mats = _as_float(matrices, "matrices")
            if mats.ndim != 4 or mats.shape[-1] != mats.shape[-2]:
                raise DataError(
                    f"Profile matrices: expected shape (prompts, types, candidates, candidates), got {mats.shape}"
                )
        n_prompts, n_types, n_cands = mats.shape[:3]
        if n_prompts == 0 or n_types == 0 or n_cands == 0:
            raise DataError(f"Profile matrices: shape {mats.shape}; expected at least one prompt, type and candidate")
        if mask is None:
            mask = np.ones((n_prompts, n_cands), dtype=bool)
        else:
            mask = np.asarray(mask)
            if mask.dtype != bool:
                raise DataError(f"Profile mask: expected booleans, got dtype {mask.dtype}")
            if mask.shape != (n_prompts, n_cands):
                raise DataError(f"Profile mask: shape {mask.shape}, expected {(n_prompts, n_cands)}")
            mask = mask.copy()
        empty = ~mask.any(axis=1)
        if empty.any():
            raise DataError(
                f"Profile mask: prompts {np.flatnonzero(empty)[:5].tolist()} have no candidate; expected at least one"
            )
        self.mask = mask
        pair_mask = self._pair_mask()
        self.ties = bool(ties)
        self.matrices = _check_matrices(mats, pair_mask[:, None], "matrices", self.ties, atol)

        # ---- weights
        w = _as_float(weights, "weights")
        if w.ndim == 1:
            w = np.broadcast_to(w, (n_prompts, w.shape[0]))
        if w.shape != (n_prompts, n_types):
            raise DataError(f"Profile weights: shape {w.shape}, expected ({n_types},) or ({n_prompts}, {n_types})")
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            p, k = np.argwhere(bad)[0]
            raise DataError(f"Profile weights[{p}, {k}]: got {w[p, k]}; expected a nonnegative number")
        sums = w.sum(axis=1)
        bad = np.abs(sums - 1) > max(atol, 1e-6)
        if bad.any():
            p = int(np.flatnonzero(bad)[0])
            raise DataError(f"Profile weights: row {p} sums to {sums[p]:.6g}; expected each row to sum to 1")
        self.weights = np.array(w / sums[:, None], dtype=np.float64)

        # ---- candidates
        self.candidates = build_candidates(candidates, self.mask)
        self.texts = build_texts(texts, self.candidates, self.mask)

        # ---- prompts
        if prompts is None:
            self.prompts = pd.RangeIndex(n_prompts, name="prompt_id")
        else:
            index = pd.Index(list(prompts))
            if len(index) != n_prompts:
                raise DataError(f"Profile prompts: {len(index)} ids for {n_prompts} prompts; expected one per prompt")
            if index.has_duplicates:
                dup = index[index.duplicated()].unique()[:5].tolist()
                raise DataError(f"Profile prompts: duplicate prompt ids {dup}")
            self.prompts = index

        # ---- rewards
        if rewards is None:
            self.rewards = None
        else:
            if _is_ragged(rewards):
                r, sizes = _pad_ragged(rewards, "rewards", n_square=1, lead=1, fill=0.0)
                r = self._fit_padding(r, "rewards", axis=-1, fill=0.0)
            else:
                r = _as_float(rewards, "rewards")
            if r.shape != (n_prompts, n_types, n_cands):
                raise DataError(f"Profile rewards: shape {r.shape}, expected {(n_prompts, n_types, n_cands)}")
            valid = np.broadcast_to(self.mask[:, None, :], r.shape)
            bad = valid & ~np.isfinite(r)
            if bad.any():
                idx = [int(i) for i in np.argwhere(bad)[0]]
                raise DataError(f"Profile rewards{idx}: got {r[tuple(idx)]}; expected a finite number")
            r = np.where(valid, r, 0.0)
            self.rewards = r

        # ---- posterior samples
        if samples is None:
            self.samples = None
        else:
            if _is_ragged(samples):
                s, _ = _pad_ragged(samples, "samples", n_square=2, lead=2, fill=0.5)
                s = np.moveaxis(s, 0, 1)  # (S, P, K, M, M)
                s = self._fit_padding(s, "samples", axis=(-2, -1), fill=0.5)
            else:
                s = _as_float(samples, "samples")
            if s.ndim != 5 or s.shape[1:] != self.matrices.shape:
                raise DataError(
                    f"Profile samples: shape {s.shape}, expected (samples, {n_prompts}, {n_types}, {n_cands}, {n_cands})"
                )
            self.samples = _check_matrices(s, pair_mask[None, :, None], "samples", self.ties, atol)

    # ------------------------------------------------------------------ construction helpers
    def _pair_mask(self):
        m = self.mask
        pair = m[:, :, None] & m[:, None, :]
        pair &= ~np.eye(m.shape[1], dtype=bool)[None]
        return pair

    def _fit_padding(self, arr, name, axis, fill):
        """Pad (or check) a ragged-built array's candidate axes to this profile's M."""
        axes = (axis,) if isinstance(axis, int) else axis
        target = self.mask.shape[1]
        for ax in axes:
            have = arr.shape[ax]
            if have > target:
                raise DataError(f"Profile {name}: {have} candidates on some prompt, matrices have at most {target}")
            if have < target:
                widths = [(0, 0)] * arr.ndim
                widths[ax] = (0, target - have)
                arr = np.pad(arr, widths, constant_values=fill)
        return arr

    @classmethod
    def from_rewards(cls, rewards, weights, candidates=None, prompts=None, mask=None, reward_samples=None, texts=None):
        """Bradley–Terry profile from per-type rewards: ``P_k(i beats j) = sigmoid(r_ki - r_kj)``.

        Parameters
        ----------
        rewards : array-like (P, K, M) or list of P arrays (K, M_p)
            Per-type rewards; also kept as ``profile.rewards`` for cardinal rules.
        weights : array-like (K,) or (P, K)
        candidates, prompts, mask, texts
            As in :class:`Profile`.
        reward_samples : array-like (S, P, K, M) or list of P arrays (S, K, M_p), optional
            Posterior samples of the rewards; their Bradley–Terry matrices become
            ``profile.samples``.

        Examples
        --------
        >>> import numpy as np, mixpref as mp
        >>> prof = mp.Profile.from_rewards(np.array([[[0.0, np.log(3.0)]]]), weights=[1.0])
        >>> round(float(prof.matrices[0, 0, 1, 0]), 3)
        0.75
        """
        mats, rewards_in, samples = bradley_terry_matrices(rewards, reward_samples)
        return cls(mats, weights, candidates=candidates, prompts=prompts, rewards=rewards_in, samples=samples, mask=mask,
                   texts=texts)

    def with_texts(self, texts):
        """A copy of the profile (arrays shared) carrying ``texts`` (as the ``texts`` argument).

        Examples
        --------
        >>> import numpy as np, mixpref as mp
        >>> prof = mp.Profile(np.full((1, 1, 2, 2), 0.5), [1.0], candidates=[["a1", "b7"]])
        >>> prof.with_texts({"a1": "Paris"}).texts.tolist()
        [['Paris', None]]
        """
        out = copy.copy(self)
        out.texts = build_texts(texts, self.candidates, self.mask)
        return out

    # ------------------------------------------------------------------ shape
    @property
    def shape(self):
        """``(P, K, M)``: prompts, types, (padded) candidates."""
        return self.matrices.shape[:3]

    @property
    def n_prompts(self):
        return self.matrices.shape[0]

    @property
    def n_types(self):
        return self.matrices.shape[1]

    @property
    def n_candidates(self):
        """Candidates per prompt, (P,) int."""
        return self.mask.sum(axis=1)

    def __len__(self):
        return self.n_prompts

    def __repr__(self):
        p, k, m = self.shape
        extra = "".join(
            [", rewards" if self.rewards is not None else "", f", {self.samples.shape[0]} samples" if self.samples is not None else ""]
        )
        return f"Profile({p} prompts, {k} types, up to {m} candidates{extra})"

    # ------------------------------------------------------------------ derived views
    def pooled(self):
        """The mixture-average preference ``P̄_p = sum_k w_pk P_k``, (P, M, M).

        This is what a single model fitted to everyone's comparisons sees; the
        probabilistic rules (``pooled``, ``borda``, ``maximal_lottery``) read it.
        """
        return np.einsum("pk,pkij->pij", self.weights, self.matrices)

    def pooled_samples(self):
        """Pooled matrices of each posterior sample, (S, P, M, M); requires ``samples``."""
        if self.samples is None:
            raise DataError("Profile samples: this profile has no posterior samples (pass samples=...)")
        return np.einsum("pk,spkij->spij", self.weights, self.samples)

    def win_rates(self, matrices=None):
        """Half-tie win rates ``W_k(i, j) = (1 + P_k(i beats j) - P_k(j beats i)) / 2``, (P, K, M, M).

        A tie counts as half a win; ``W_k(i, i) = 1/2``; padding is 1/2.
        """
        mats = self.matrices if matrices is None else matrices
        return 0.5 * (1.0 + mats - np.swapaxes(mats, -1, -2))

    def utilities(self, utility="winrate"):
        """Each type's utility of each candidate, (P, K, M); 0 at padding.

        ``"winrate"``: the type's expected win rate of the candidate against a uniformly
        random candidate of the same prompt (itself included, as a coin flip), so a uniform
        lottery scores exactly 1/2. ``"reward"``: the profile's ``rewards`` (error if none).
        """
        if utility == "winrate":
            w = self.win_rates()
            m = self.mask[:, None, None, :]
            return np.where(self.mask[:, None, :], (w * m).sum(-1) / self.n_candidates[:, None, None], 0.0)
        if utility == "reward":
            if self.rewards is None:
                raise DataError(
                    "Profile rewards: this rule needs per-type rewards (utility='reward') but the profile has none; "
                    "build it with Profile(..., rewards=...) or Profile.from_rewards, or use utility='winrate'"
                )
            return self.rewards
        raise DataError(f"utility: got {utility!r}; expected 'winrate' or 'reward'")

    def majority_margin(self):
        """Weighted majority margin of types, (P, M, M).

        ``margin_ij = sum_k w_pk sign(P_k(i beats j) - P_k(j beats i))``: the weight of
        types preferring i to j minus the weight preferring j to i (an indifferent type
        counts for neither). With deterministic (0/1) types weighted by voter counts this is
        the textbook majority margin divided by the number of voters.
        """
        d = self.matrices - np.swapaxes(self.matrices, -1, -2)
        s = np.where(np.abs(d) <= MARGIN_TOL, 0.0, np.sign(d))
        margin = np.einsum("pk,pkij->pij", self.weights, s)
        return np.where(self._pair_mask(), margin, 0.0)

    def majority(self):
        """Weighted majority relation, (P, M, M) int8: +1 i beats j, -1 j beats i, 0 tie or padding."""
        margin = self.majority_margin()
        rel = np.zeros(margin.shape, dtype=np.int8)
        rel[margin > MARGIN_TOL] = 1
        rel[margin < -MARGIN_TOL] = -1
        return rel

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the profile to one ``.npz`` file (atomically); see :func:`~mixpref.aggregation.profile_io.save_profile`.

        Examples
        --------
        >>> import numpy as np, tempfile, pathlib, mixpref as mp
        >>> prof = mp.Profile(np.full((2, 1, 3, 3), 0.5), weights=[1.0])
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "profile.npz"
        >>> prof.save(path)
        >>> mp.Profile.load(path).shape
        (2, 1, 3)
        """
        save_profile(self, path)

    @classmethod
    def load(cls, path):
        """Read a profile from an ``.npz`` file; see :func:`~mixpref.aggregation.profile_io.load_profile`."""
        return load_profile(path, cls)

"""Group-robust preference optimisation: minimise the worst annotator type's loss.

As in group-robust DPO (Ramesh et al., NeurIPS 2024): every pair carries the annotator type
that labelled it (or the fitted mixture's posterior over types); the trainer keeps weights
``α`` on the types, raised by exponentiated gradient on each type's loss
(``α_k ← α_k exp(η L_k)``, renormalised), and descends ``Σ_k α_k L_k``. The worst-off type
gains weight until the losses balance.

What drives the weights is a choice (``group_objective``): ``"dpo"`` is GR-DPO's own signal,
each type's DPO loss in excess of its labels' entropy; ``"win_rate"`` is the quantity the
max-min rule protects, each type's win-rate shortfall ``1 − WR_k(π)`` (its expected win rate
of the current policy against the reference, computed exactly from the type's labelled
pairs by :class:`PairWinRates`). Either way the policy descends ``Σ_k α_k L_k`` with
``L_k`` the type's DPO loss.

``type_pairs`` builds such data from a profile (each type's own labels on every pair), and
``type_win_rates`` measures each type's win rate of a trained policy for the reports.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError

GROUP_OBJECTIVES = ("dpo", "win_rate")


def check_group_objective(name):
    if name not in GROUP_OBJECTIVES:
        raise DataError(f"group_objective: got {name!r}, expected one of {', '.join(map(repr, GROUP_OBJECTIVES))}")
    return name


def type_posteriors(pairs, n_types=None):
    """(n, G) float64 group membership of each pair: ``group`` (ints) if present, else the type
    posterior from ``type_probs`` (lists) or ``type`` (ints).

    Examples
    --------
    >>> import pandas as pd
    >>> type_posteriors(pd.DataFrame({"type": [0, 1, 1]})).tolist()
    [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
    """
    if "group" in pairs.columns:
        return type_posteriors(pairs[["group"]].rename(columns={"group": "type"}), n_types)
    if "type_probs" in pairs.columns:
        try:
            r = np.array([np.asarray(v, dtype=np.float64) for v in pairs["type_probs"]])
        except (TypeError, ValueError):
            raise DataError("pairs: column 'type_probs': expected one list of type probabilities per row") from None
        if r.ndim != 2:
            raise DataError("pairs: column 'type_probs': rows hold lists of different lengths; expected K numbers each")
        bad = np.flatnonzero(~(np.all(r >= 0, axis=1) & (np.abs(r.sum(1) - 1) < 1e-6)))
        if bad.size:
            raise DataError(f"pairs: column 'type_probs', row {int(bad[0])}: got {r[bad[0]].tolist()}, expected probabilities summing to 1")
    elif "type" in pairs.columns:
        t = pd.to_numeric(pairs["type"], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~(np.isfinite(t) & (t >= 0) & (t == np.round(t))))
        if bad.size:
            raise DataError(f"pairs: column 'type', row {int(bad[0])}: got {pairs['type'].iloc[bad[0]]!r}, expected a type index >= 0")
        k = int(t.max()) + 1 if n_types is None else int(n_types)
        r = np.zeros((len(t), k))
        r[np.arange(len(t)), t.astype(int)] = 1.0
    else:
        raise DataError(
            "pairs: loss 'group_robust' needs column 'type' (the annotator type of each pair) or 'type_probs' "
            "(the fitted mixture's posterior over types); see mp.dpo.type_pairs"
        )
    return r


class GroupWeights:
    """Adaptive type weights of group-robust training (exponentiated gradient).

    Parameters
    ----------
    n_types : int
    step_size : float
        ``η`` of ``α_k ← α_k exp(η L_k)``.
    blocks : array of int (n_types,), optional
        One simplex per block (e.g. per prompt, see :func:`prompt_blocks`): the weights are
        renormalised within each block. Default: one simplex over all groups (GR-DPO).

    Examples
    --------
    >>> import torch
    >>> g = GroupWeights(2, step_size=1.0)
    >>> value, losses = g.objective(torch.tensor([1.0, 3.0]), torch.eye(2), torch.ones(2))
    >>> g.update(losses)
    >>> bool(g.alpha[1] > g.alpha[0])
    True
    """

    def __init__(self, n_types, step_size=0.01, blocks=None):
        import torch

        if int(n_types) < 1:
            raise DataError(f"n_types: got {n_types}, expected >= 1")
        try:
            step_size = float(step_size)
        except (TypeError, ValueError):
            step_size = float("nan")
        if not step_size > 0:
            raise DataError(f"group_step: got {step_size!r}, expected a positive number")
        self.step_size = step_size
        self.blocks = None if blocks is None else torch.as_tensor(np.asarray(blocks), dtype=torch.int64)
        if self.blocks is not None and self.blocks.shape != (int(n_types),):
            raise DataError(f"blocks: got shape {tuple(self.blocks.shape)}, expected ({int(n_types)},)")
        self.n_blocks = None if self.blocks is None else int(self.blocks.max()) + 1
        self.log_alpha = self._normalise(torch.zeros(int(n_types), dtype=torch.float64))

    def _normalise(self, x):
        import torch

        from ..models._engine import segment_logsumexp

        if self.blocks is None:
            return torch.log_softmax(x, 0)
        # a log-softmax within each block (each prompt's types): the engine's segment logsumexp
        return x - segment_logsumexp(x[:, None], self.blocks, self.n_blocks)[self.blocks, 0]

    @property
    def alpha(self):
        return self.log_alpha.exp()

    def objective(self, per_example, type_probs, weights):
        """``(Σ_k α_k L_k, L)`` with ``L_k`` the type-posterior- and weight-weighted mean loss of type k."""
        mass = (weights[:, None] * type_probs).sum(0)
        losses = (weights[:, None] * type_probs * per_example[:, None]).sum(0) / mass.clamp_min(1e-12)
        alpha = self.alpha.to(per_example.device, per_example.dtype)
        # a type with no pair in the batch contributes nothing (its loss is 0/ε)
        return (alpha * losses * (mass > 0)).sum(), losses

    def update(self, losses, step_size=None):
        """Exponentiated-gradient step on the (detached) per-type losses."""
        import torch

        step = self.step_size if step_size is None else step_size
        losses = losses.detach().to(torch.float64).cpu()
        self.log_alpha = self._normalise(self.log_alpha + step * losses)


def prompt_blocks(type_probs, prompt_rows):
    """(G,) the prompt row of each group, for one simplex of group weights per prompt.

    Raises a DataError when a group has pairs on more than one prompt (then the groups do
    not nest in prompts, e.g. one group per type over all prompts). A group without pairs
    gets a block of its own.

    Examples
    --------
    >>> import numpy as np
    >>> prompt_blocks(np.eye(4)[[0, 1, 2, 3, 3]], np.array([0, 0, 1, 1, 1])).tolist()
    [0, 0, 1, 1]
    """
    rows = np.asarray(prompt_rows)
    blocks = np.empty(type_probs.shape[1], dtype=np.int64)
    fresh = int(rows.max()) + 1 if rows.size else 0
    for g in range(type_probs.shape[1]):
        where = np.unique(rows[type_probs[:, g] > 0])
        if where.size > 1:
            raise DataError(
                f"pairs: group {g} has pairs on {where.size} prompts; group_simplex='prompt' needs groups nested in "
                "prompts (one group per (prompt, type): mp.dpo.type_pairs(profile, per_prompt=True))"
            )
        blocks[g] = where[0] if where.size else fresh
        fresh += where.size == 0
    return blocks


class PairWinRates:
    """Each group's expected win rate (ties half) of a tabular policy against the reference.

    A type's win rate on a prompt is linear in the policy: with ``W_ij`` the type's
    probability that i beats j, ``WR = Σ_ij π_i W_ij ref_j = ½ + Σ_{pairs {c,r}} (W_cr − ½)
    (π_c ref_r − π_r ref_c)``, so it is exact from the type's labelled pairs (``p_chosen``
    = ``W_cr``) when the type labels each of the prompt's candidate pairs once, as
    :func:`type_pairs` does; an unlabelled pair counts as a tie. A group's win rate is the
    mean over prompts weighted by the group's ``weight`` mass on each prompt.

    Parameters
    ----------
    positions : ndarray (n, 3)
        (prompt row, chosen column, rejected column) of each pair in the candidate grid.
    p_chosen : ndarray (n,)
        The labelling type's probability that chosen beats rejected.
    type_probs : ndarray (n, G)
        Group membership of each pair (:func:`type_posteriors`).
    weights : ndarray (n,)
    n_candidates : ndarray (P,)
        Candidates per prompt (to check that no group labels a prompt's pairs twice).

    Examples
    --------
    >>> import numpy as np, torch
    >>> pos = np.array([[0, 0, 1], [0, 1, 0]])      # type 0 prefers a, type 1 prefers b
    >>> wr = PairWinRates(pos, np.array([1.0, 1.0]), np.eye(2), np.ones(2), np.array([2]))
    >>> wr(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]])).tolist()   # always play a
    [0.75, 0.25]
    """

    def __init__(self, positions, p_chosen, type_probs, weights, n_candidates, device=None):
        import torch

        def f64(x):
            return torch.tensor(np.asarray(x, dtype=np.float64), dtype=torch.float64, device=device)

        self.i, self.c, self.r = (torch.tensor(np.asarray(positions[:, k]), device=device) for k in range(3))
        r = f64(type_probs)
        self.r_edge = r * (f64(p_chosen) - 0.5)[:, None]
        self.mass = r.new_zeros((len(n_candidates), r.shape[1])).index_add_(0, self.i, r * f64(weights)[:, None])
        count = torch.zeros_like(self.mass).index_add_(0, self.i, r).cpu().numpy()
        n_pairs = np.asarray(n_candidates) * (np.asarray(n_candidates) - 1) / 2
        over = np.argwhere(count > n_pairs[:, None] + 1e-6)
        if over.size:
            p, g = (int(v) for v in over[0])
            raise DataError(
                f"pairs: group {g} labels {count[p, g]:g} pairs on prompt row {p}, which has only {n_pairs[p]:g}; "
                "group_objective='win_rate' needs each pair of a prompt labelled at most once per group (one soft "
                "label per type, as mp.dpo.type_pairs gives)"
            )
        self.total = self.mass.sum(0).clamp_min(1e-300)

    def __call__(self, probs, reference):
        """(G,) win rates; ``probs`` and ``reference`` are (P, M) tensors on the grid."""
        i, c, r = self.i, self.c, self.r
        edge = probs[i, c] * reference[i, r] - probs[i, r] * reference[i, c]
        advantage = self.mass.new_zeros(self.mass.shape).index_add_(0, i, self.r_edge * edge[:, None])
        return (self.mass * (0.5 + advantage)).sum(0) / self.total


def type_pairs(profile, strategy="all_pairs", min_prob=0.0, per_prompt=False):
    """Each type's own labels on each prompt's candidate pairs: data for group-robust training.

    Parameters
    ----------
    profile : mp.Profile
        Per-type preference matrices (from ``model.profile(...)`` or built by hand).
    strategy : {"all_pairs"}
        Every unordered pair of a prompt's candidates, oriented by each type's preference.
    min_prob : float
        Drop rows whose label is closer to ½ than this (``|p − ½| < min_prob``).
    per_prompt : bool
        Add a ``group`` column, one group per (prompt, type): group-robust training then
        protects the worst type on every prompt, as the max-min rule does, instead of the
        worst type over all prompts (GR-DPO's groups).

    Returns
    -------
    pandas.DataFrame
        ``prompt_id``, ``chosen_id``, ``rejected_id``, ``p_chosen`` (type k's half-tie
        probability that chosen wins, ≥ ½), ``weight`` (the type's weight on the prompt,
        spread over the prompt's pairs), ``type``.

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> prof = mp.Profile.from_rewards(np.array([[[1.0, 0.0], [0.0, 1.0]]]), weights=[0.6, 0.4])
    >>> type_pairs(prof)[["chosen_id", "rejected_id", "type"]].values.tolist()
    [[0, 1, 0], [1, 0, 1]]
    """
    if strategy != "all_pairs":
        raise DataError(f"strategy: got {strategy!r}, expected 'all_pairs'")
    win = profile.win_rates()
    rows = []
    for p, pid in enumerate(profile.prompts):
        local = np.flatnonzero(profile.mask[p])
        pairs = [(a, b) for x, a in enumerate(local) for b in local[x + 1:]]
        for k in range(profile.n_types):
            if profile.weights[p, k] <= 0:
                continue
            for a, b in pairs:
                q = win[p, k, a, b]
                c, r = (a, b) if q >= 0.5 else (b, a)
                q = max(q, 1 - q)
                if q - 0.5 < min_prob:
                    continue
                rows.append((pid, profile.candidates[p, c], profile.candidates[p, r], q,
                             profile.weights[p, k] / len(pairs), k, p * profile.n_types + k))
    out = pd.DataFrame(rows, columns=["prompt_id", "chosen_id", "rejected_id", "p_chosen", "weight", "type", "group"])
    if not per_prompt:
        out = out.drop(columns="group")
    for column in ("prompt_id", "chosen_id", "rejected_id"):
        out[column] = out[column].astype(object)
    return out


def type_win_rates(profile, probs, reference=None, per_prompt=False):
    """(K,) each type's expected win rate (ties half) of a draw from ``probs`` against ``reference``.

    ``probs`` and ``reference`` are (P, M) distributions aligned with the profile's candidates
    (``reference`` defaults to uniform, the max-min rule's yardstick); averaged over the prompts
    where the type has weight, or with ``per_prompt`` the (P, K) rates of every prompt.

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> prof = mp.Profile.from_rewards(np.array([[[5.0, 0.0], [0.0, 5.0]]]), weights=[0.5, 0.5])
    >>> type_win_rates(prof, np.array([[1.0, 0.0]])).round(2).tolist()
    [0.75, 0.25]
    """
    if reference is None:
        reference = profile.mask / profile.mask.sum(1, keepdims=True)
    wins = np.einsum("pi,pkij,pj->pk", np.asarray(probs, dtype=np.float64), profile.win_rates(), reference)
    if per_prompt:
        return wins
    active = profile.weights > 0
    return (wins * active).sum(0) / np.maximum(active.sum(0), 1)

"""Group-robust preference optimisation: minimise the worst annotator type's loss.

As in group-robust DPO (Ramesh et al., NeurIPS 2024): every pair carries the annotator type
that labelled it (or the fitted mixture's posterior over types); the trainer keeps weights
``α`` on the types, raised by exponentiated gradient on each type's loss
(``α_k ← α_k exp(η L_k)``, renormalised), and descends ``Σ_k α_k L_k``. The worst-off type
gains weight until the losses balance.

``type_pairs`` builds such data from a profile (each type's own labels on every pair), and
``type_win_rates`` measures each type's win rate of a trained policy for the reports.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError


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

    Examples
    --------
    >>> import torch
    >>> g = GroupWeights(2, step_size=1.0)
    >>> value, losses = g.objective(torch.tensor([1.0, 3.0]), torch.eye(2), torch.ones(2))
    >>> g.update(losses)
    >>> bool(g.alpha[1] > g.alpha[0])
    True
    """

    def __init__(self, n_types, step_size=0.01):
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
        self.log_alpha = torch.full((int(n_types),), -float(np.log(n_types)), dtype=torch.float64)

    @property
    def alpha(self):
        import torch

        return torch.softmax(self.log_alpha, 0)

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
        self.log_alpha = torch.log_softmax(self.log_alpha + step * losses, 0)


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


def type_win_rates(profile, probs, reference=None):
    """(K,) each type's expected win rate (ties half) of a draw from ``probs`` against ``reference``.

    ``probs`` and ``reference`` are (P, M) distributions aligned with the profile's candidates
    (``reference`` defaults to uniform, the max-min rule's yardstick); averaged over the prompts
    where the type has weight.

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
    active = profile.weights > 0
    return (wins * active).sum(0) / np.maximum(active.sum(0), 1)

"""An exact tabular softmax policy over each prompt's candidates, trained on DPO pairs.

With one free logit per (prompt, candidate) the policy can represent any distribution over
a prompt's candidates, so the trainer shows what a loss converges to under a rule's
targets without the confounds of a neural network: full batch, float64, torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError
from ..targets.reference import grid_lookup, reference_logprobs
from .._device import resolve_device
from ._pairs import check_loss, float_column, require_columns, single_thread_if_small, soft_labels_and_weights


@dataclass
class TabularPolicy:
    """A trained tabular policy, aligned with the candidates it was trained over.

    Attributes
    ----------
    probs : ndarray, shape (P, M)
        ``π(y|x)`` for each prompt's candidates (0 at padding, rows sum to 1).
    reference : ndarray, shape (P, M)
        The reference policy the loss was anchored to.
    prompts : pandas.Index
        Prompt ids, one per row.
    candidates : ndarray of object, shape (P, M)
        Response ids (None at padding), as in the lottery or candidates table.
    mask : ndarray of bool, shape (P, M)
        True where a candidate exists.
    loss_history : ndarray
        The weighted mean loss at each step.
    type_weights : ndarray (K,) or None
        ``loss="group_robust"``: the adaptive type weights ``α`` at the end of training.

    Examples
    --------
    >>> import numpy as np, pandas as pd, mixpref as mp
    >>> cands = pd.DataFrame({"prompt_id": [0, 0], "response_id": ["a", "b"]})
    >>> pairs = pd.DataFrame({"prompt_id": [0], "chosen_id": ["a"], "rejected_id": ["b"]})
    >>> policy = mp.dpo.train_tabular(pairs, cands, beta=1.0, steps=200)
    >>> bool(policy.probs[0, 0] > 0.9)
    True
    """

    probs: np.ndarray
    reference: np.ndarray
    prompts: pd.Index
    candidates: np.ndarray
    mask: np.ndarray
    loss_history: np.ndarray = field(repr=False)
    type_weights: np.ndarray | None = field(default=None, repr=False)

    def to_frame(self):
        """Long DataFrame [``prompt_id``, ``response_id``, ``prob``, ``ref_prob``], padding dropped."""
        rows, cols = np.nonzero(self.mask)
        return pd.DataFrame(
            {
                "prompt_id": np.asarray(self.prompts)[rows],
                "response_id": self.candidates[rows, cols],
                "prob": self.probs[rows, cols],
                "ref_prob": self.reference[rows, cols],
            }
        )


def candidate_grid(candidates):
    """(prompts, candidates (P, M) object array, mask (P, M)) from a Lottery, PreferenceData or table."""
    if hasattr(candidates, "candidates") and hasattr(candidates, "mask") and hasattr(candidates, "prompts"):
        cand = np.asarray(candidates.candidates, dtype=object)
        mask = np.asarray(candidates.mask, dtype=bool)
        return pd.Index(candidates.prompts), cand, mask
    if callable(getattr(candidates, "candidates", None)):
        candidates = candidates.candidates()
    if not isinstance(candidates, pd.DataFrame):
        raise DataError(
            f"candidates: got {type(candidates).__name__}, expected a Lottery, a PreferenceData or a DataFrame "
            "with columns 'prompt_id', 'response_id'"
        )
    require_columns(candidates, ["prompt_id", "response_id"], "candidates")
    dup = candidates.duplicated(["prompt_id", "response_id"]).to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise DataError(f"candidates, row {row}: (prompt_id, response_id) repeated; expected each candidate once")
    groups = candidates.groupby("prompt_id", sort=False)["response_id"].apply(list)
    width = max(len(g) for g in groups)
    cand = np.full((len(groups), width), None, dtype=object)
    mask = np.zeros((len(groups), width), dtype=bool)
    for i, ids in enumerate(groups):
        cand[i, : len(ids)] = ids
        mask[i, : len(ids)] = True
    return pd.Index(groups.index), cand, mask


def pair_positions(pairs, prompts, cand, mask):
    """Row/column positions of each pair's chosen and rejected candidate in the grid."""
    require_columns(pairs, ["prompt_id", "chosen_id", "rejected_id"])
    pids = pairs["prompt_id"].to_numpy(dtype=object)
    out = np.empty((len(pairs), 3), dtype=np.int64)
    for k, column in ((1, "chosen_id"), (2, "rejected_id")):
        rids = pairs[column].to_numpy(dtype=object)
        i, j = grid_lookup(prompts, cand, mask, pids, rids)
        missing = np.flatnonzero(i < 0)
        if missing.size:
            row = int(missing[0])
            raise DataError(
                f"pairs: column {column!r}, row {row}: response {rids[row]!r} of prompt {pids[row]!r} "
                "is not among the candidates"
            )
        out[:, 0], out[:, k] = i, j
    same = np.flatnonzero(out[:, 1] == out[:, 2])
    if same.size:
        row = int(same[0])
        raise DataError(f"pairs, row {row}: chosen and rejected are the same response {pairs['chosen_id'].iloc[row]!r}")
    return out


def _reference_grid(reference, prompts, cand, mask):
    return np.where(mask, np.exp(reference_logprobs(reference, prompts, cand, mask)), 0.0)


def train_tabular(
    pairs,
    candidates,
    loss="sigmoid",
    beta=0.1,
    reference=None,
    steps=200,
    lr=0.1,
    soft_labels=None,
    optimizer=None,
    device="auto",
    group_loss="soft",
    group_step=None,
    group_rounds=60,
    group_objective="dpo",
    group_simplex="all",
):
    """Train a softmax policy over each prompt's candidates on DPO pairs (full batch, exact).

    The policy has one logit per (prompt, candidate), starts at the reference, and is fitted
    on the weighted mean of ``mp.dpo.loss(loss, ...)`` over all pairs at once (each
    prompt's ``weight`` sums to 1 in :func:`mixpref.to_dpo_pairs` output).

    Parameters
    ----------
    pairs : pandas.DataFrame
        From :func:`mixpref.to_dpo_pairs`: columns ``prompt_id``, ``chosen_id``,
        ``rejected_id``, optional ``p_chosen`` (soft label) and ``weight``.
    candidates : Lottery, PreferenceData or pandas.DataFrame
        The candidate grid: a Lottery (its ``prompts``, ``candidates``, ``mask``), or a table
        [``prompt_id``, ``response_id``] (e.g. ``data.candidates()``).
    loss : str
        One of ``mp.dpo.LOSSES``, or ``"group_robust"``: ``group_loss`` per pair, averaged per
        annotator type (columns ``type`` or ``type_probs``, see :func:`mixpref.dpo.type_pairs`),
        with type weights raised by exponentiated gradient on each type's loss so that the
        worst type's loss is minimised (GR-DPO; Adam).
    beta : float
        DPO's β.
    reference : array (P, M), object with ``probs``, or DataFrame [prompt_id, response_id, prob], optional
        The reference policy; uniform over each prompt's candidates by default.
    steps : int
        Iterations: L-BFGS iterations, or Adam steps.
    lr : float
        Adam's learning rate on the logits (L-BFGS uses a line search).
    soft_labels : bool, optional
        Feed ``p_chosen`` to the loss. Default: only for ``soft`` and ``robust``.
    optimizer : {"lbfgs", "adam"}, optional
        Default: L-BFGS with a strong-Wolfe line search (every loss is convex in the logits),
        Adam for the non-smooth ``hinge``. Hard-label losses have no finite optimum (the
        logits grow without bound), so for them ``steps`` sets how far training goes.
    device : str
        ``"auto"`` picks CUDA when available.
    group_loss : str
        ``loss="group_robust"``: the per-pair loss (soft labels by default).
    group_step : float, optional
        ``loss="group_robust"``: the exponentiated-gradient step ``η`` on the type weights
        (with L-BFGS, ``η/√t`` in round t). Default 1 for ``group_objective="dpo"``; for
        ``"win_rate"`` 10 per L-BFGS round (win-rate shortfalls differ by hundredths near the
        balance; measured on the dpo_targets study's 60/40 population) and 0.1 per Adam step
        (a step after every iteration: 10 makes the weights swing from type to type).
    group_rounds : int
        ``loss="group_robust"`` with L-BFGS: rounds of (solve the policy for fixed type
        weights; exponentiated-gradient step on the weights), i.e. mirror ascent on the dual,
        whose averaged weights (over the second half of the rounds) converge to the saddle
        point; the policy is then solved for the averaged weights. With Adam the weights move
        after every step, as in GR-DPO.
    group_objective : {"dpo", "win_rate"}
        ``loss="group_robust"``: what drives the type weights. ``"dpo"``: each type's
        ``group_loss`` in excess of its labels' entropy (GR-DPO). ``"win_rate"``: each
        type's win-rate shortfall, 1 − its expected win rate of the current policy against
        the reference (exact, from the type's ``p_chosen`` labels; see
        :class:`mixpref.dpo.group_robust.PairWinRates`): the quantity max-min aggregation
        protects. The policy descends the weighted DPO loss either way.
    group_simplex : {"all", "prompt"}
        ``loss="group_robust"``: ``"all"``: one simplex of weights over all groups (GR-DPO);
        ``"prompt"``: one per prompt, for groups nested in prompts (``type_pairs(profile,
        per_prompt=True)``). The tabular policy of each prompt is independent of the others,
        so with one simplex over (prompt, type) groups the weights concentrate on the worst
        prompts and the others are left unprotected; one simplex per prompt protects the worst
        type on every prompt, as max-min aggregation does.

    Returns
    -------
    TabularPolicy
        ``probs`` (P, M) aligned with the candidate grid (for a Lottery, with ``lottery.candidates``).

    Examples
    --------
    >>> import pandas as pd, mixpref as mp
    >>> cands = pd.DataFrame({"prompt_id": [0, 0, 0], "response_id": [0, 1, 2]})
    >>> pairs = pd.DataFrame({"prompt_id": [0, 0], "chosen_id": [0, 0], "rejected_id": [1, 2]})
    >>> mp.dpo.train_tabular(pairs, cands, beta=1.0, steps=300).probs.argmax(1)
    array([0])
    """
    import torch

    from .losses import compute
    from .losses import loss as loss_fn

    group = None
    loss_is_group = loss == "group_robust"
    if loss_is_group:
        from .group_robust import GroupWeights, PairWinRates, check_group_objective, prompt_blocks, type_posteriors

        check_group_objective(group_objective)
        check_loss(group_loss)
        loss = group_loss
        soft_labels = True if soft_labels is None else soft_labels
        type_probs = type_posteriors(pairs)
        if group_simplex not in ("all", "prompt"):
            raise DataError(f"group_simplex: got {group_simplex!r}, expected 'all' or 'prompt'")
    check_loss(loss)
    if optimizer is None:
        optimizer = "adam" if loss == "hinge" else "lbfgs"
    if optimizer not in ("lbfgs", "adam"):
        raise DataError(f"optimizer: got {optimizer!r}, expected 'lbfgs', 'adam' or None")
    if int(steps) < 0:
        raise DataError(f"steps: got {steps}, expected an integer >= 0")
    prompts, cand, mask = candidate_grid(candidates)
    pos = pair_positions(pairs, prompts, cand, mask)
    if loss_is_group:
        blocks = prompt_blocks(type_probs, pos[:, 0]) if group_simplex == "prompt" else None
        if group_step is None:
            group_step = (10.0 if optimizer == "lbfgs" else 0.1) if group_objective == "win_rate" else 1.0
        group = GroupWeights(type_probs.shape[1], group_step, blocks)
    p, w = soft_labels_and_weights(pairs, loss, soft_labels)
    ref = _reference_grid(reference, prompts, cand, mask)

    dev = resolve_device(device)
    f64 = dict(dtype=torch.float64, device=dev)
    mask_t = torch.as_tensor(mask, device=dev)
    log_ref = torch.log(torch.as_tensor(ref, **f64).clamp_min(1e-300))
    logits = torch.where(mask_t, log_ref, torch.zeros_like(log_ref)).clone().requires_grad_(True)
    i, jc, jr = (torch.as_tensor(pos[:, k], device=dev) for k in range(3))
    w_t = torch.tensor(w / w.sum(), **f64)
    p_t = None if p is None else torch.tensor(p, **f64)
    ref_c, ref_r = log_ref[i, jc], log_ref[i, jr]
    neg_inf = torch.tensor(-torch.inf, **f64)

    def log_policy():
        return torch.log_softmax(torch.where(mask_t, logits, neg_inf), dim=1)

    # validate once (soft/robust labels, beta) through the public function, then loop unchecked
    loss_fn(loss, log_policy()[i, jc].detach(), log_policy()[i, jr].detach(), ref_c, ref_r, beta=beta, p=p_t)
    history = []

    r_t = None if group is None else torch.tensor(type_probs, **f64)
    win_rates = None
    if group is not None and group_objective == "win_rate":
        # the soft labels when the loss reads them (already checked), else the pairs' own or hard labels
        label = p if p is not None else (float_column(pairs, "p_chosen") if "p_chosen" in pairs.columns
                                         else np.ones(len(pairs)))
        win_rates = PairWinRates(pos, label, type_probs, w, mask.sum(1), device=dev)
        ref_t = torch.as_tensor(ref, **f64)

    def adversary_signal():
        if win_rates is None:
            return group.pending
        with torch.no_grad():
            return 1.0 - win_rates(log_policy().exp(), ref_t)
    # types' losses are compared as excess over their own floor (the labels' entropy), else a
    # type with noisier labels would look worst-off however well it is served
    floor = 0.0 if p_t is None or group is None else -(torch.xlogy(p_t, p_t) + torch.xlogy(1 - p_t, 1 - p_t))

    def objective():
        lp = log_policy()
        per_pair = compute(loss, lp[i, jc], lp[i, jr], ref_c, ref_r, beta, p_t)
        if group is None:
            return (w_t * per_pair).sum()
        value, type_losses = group.objective(per_pair - floor, r_t, w_t)
        group.pending = type_losses
        return value

    with single_thread_if_small(dev, mask.size + 3 * len(pos)):
        if optimizer == "lbfgs" and group is not None:
            # the objective is convex in the logits and linear in the type weights: mirror ascent
            # on the dual g(α) = min_π Σ α_k L_k(π), whose gradient is the losses at the inner optimum;
            # the weights are averaged over the second half of the rounds (suffix averaging: the early
            # rounds' transient would otherwise bias the average, measured on the win-rate signal).
            # The win-rate signal is no dual gradient, but within a simplex it is monotone (more weight
            # on a type raises its win rate), so the same steps find the weights that level the types
            rounds = int(group_rounds)
            log_avg = torch.zeros_like(group.log_alpha)
            for t in range(rounds):
                _lbfgs(torch, logits, objective, steps, history)
                if t >= rounds // 2:
                    log_avg += group.alpha
                group.update(adversary_signal(), group.step_size / np.sqrt(t + 1))
            if rounds > 0:
                group.log_alpha = torch.log(log_avg / (rounds - rounds // 2))
            _lbfgs(torch, logits, objective, steps, history)
        elif optimizer == "lbfgs":
            _lbfgs(torch, logits, objective, steps, history)
        else:
            opt = torch.optim.Adam([logits], lr=lr)
            for _ in range(int(steps)):
                opt.zero_grad()
                value = objective()
                value.backward()
                opt.step()
                if group is not None:
                    group.update(adversary_signal())
                history.append(value.item())
    history = np.asarray(history)
    with torch.no_grad():
        probs = torch.where(mask_t, log_policy().exp(), torch.zeros_like(log_ref)).cpu().numpy()
    return TabularPolicy(probs=probs, reference=ref, prompts=prompts, candidates=cand, mask=mask, loss_history=history,
                         type_weights=None if group is None else group.alpha.numpy())


def _lbfgs(torch, logits, objective, steps, history):
    # every loss here is convex in the logits and smooth except hinge: quasi-Newton reaches the
    # optimum in tens of iterations where Adam needs thousands
    opt = torch.optim.LBFGS([logits], lr=1.0, max_iter=int(steps), max_eval=int(steps) * 2,
                            tolerance_grad=1e-12, tolerance_change=1e-14, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        value = objective()
        value.backward()
        history.append(value.item())
        return value

    if int(steps) > 0:
        opt.step(closure)

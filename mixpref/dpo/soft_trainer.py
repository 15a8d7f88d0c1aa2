"""TRL's DPOTrainer with exact per-example soft labels, weights and group-robust training.

TRL's ``DPOTrainer`` takes hard (prompt, chosen, rejected) pairs: one global
``label_smoothing``, no per-example weights. ``SoftDPOTrainer`` keeps the dataset's
``p_chosen``, ``weight`` and ``type``/``type_probs`` columns through tokenisation and
collation and replaces the loss with mixpref's family (``mp.dpo.loss``) per example, so a
soft label trains exactly as defined, without resampling. Everything else (tokenisation,
reference model or precomputed reference log-probs, PEFT, accelerate/DeepSpeed, logging)
is TRL's. The loss override reads TRL internals, so the trainer is pinned to the TRL
versions it was tested with (:data:`TESTED_TRL`).
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .losses import LOSSES, REFERENCE_FREE, compute

# TRL versions (major.minor) whose DPOTrainer internals this subclass was tested against:
# the collator's output keys, `_set_signature_columns_if_needed`, `compute_ref_log_probs`,
# the fused LM head's `log_probs` output and `_compute_loss(model, inputs, return_outputs)`
TESTED_TRL = ("1.16",)

EXTRA_COLUMNS = ("p_chosen", "weight", "type", "type_probs")
_NON_MODEL = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps", *EXTRA_COLUMNS}
# losses that read p_chosen; the others train on hard labels (p = 1) as in every mixpref trainer
_SOFT = ("soft", "robust")


def check_trl_version(version=None):
    """Raise a clear error unless TRL ``version`` (default: the installed one) was tested.

    Examples
    --------
    >>> check_trl_version("0.9.6")
    Traceback (most recent call last):
    ...
    mixpref.errors.DataError: TRL 0.9.6: SoftDPOTrainer overrides DPOTrainer internals and was tested with TRL 1.16.x only; install a tested version (pip install 'trl==1.16.*') or use mp.dpo.train_with_trl(..., exact=False), which resamples soft labels
    """
    if version is None:
        import trl

        version = trl.__version__
    if ".".join(str(version).split(".")[:2]) not in TESTED_TRL:
        tested = ", ".join(f"{v}.x" for v in TESTED_TRL)
        raise DataError(
            f"TRL {version}: SoftDPOTrainer overrides DPOTrainer internals and was tested with TRL {tested} only; "
            f"install a tested version (pip install 'trl=={TESTED_TRL[-1]}.*') or use "
            "mp.dpo.train_with_trl(..., exact=False), which resamples soft labels"
        )


def import_trl(what):
    """The ``trl`` module, or an ImportError saying that ``what`` needs it and how to install it."""
    try:
        import trl
    except ImportError as err:
        raise ImportError(
            f"{what} needs TRL, which did not import ({err}); install the extra with: pip install 'mixpref[trl]'"
        ) from err
    return trl


class _KeepExtraColumns:
    """Wrap TRL's preference collator: add the soft-label, weight and type columns as tensors."""

    def __init__(self, base, columns):
        self.base, self.columns = base, tuple(columns)

    def __call__(self, examples):
        import torch

        batch = self.base(examples)
        for column in self.columns:
            if column in examples[0]:
                batch[column] = torch.tensor([ex[column] for ex in examples], dtype=torch.float32)
        return batch


def _check_dataset(dataset, loss_type, n_types):
    columns = set(dataset.column_names)
    if loss_type in _SOFT or loss_type == "group_robust":
        if "p_chosen" not in columns:
            raise DataError(
                f"train_dataset: loss_type {loss_type!r} needs column 'p_chosen' (the probability that chosen is "
                f"preferred); got columns {sorted(columns)}. Keep it with mp.to_trl_dataset(pairs, keep_columns=True)"
            )
        p = np.asarray(dataset["p_chosen"], dtype=np.float64)
        bad = np.flatnonzero(~((p >= 0) & (p <= 1)))
        if bad.size:
            raise DataError(f"train_dataset: column 'p_chosen', row {int(bad[0])}: got {p[bad[0]]}, expected a probability in [0, 1]")
        if loss_type == "robust" and bool((p <= 0.5).any()):
            row = int(np.flatnonzero(p <= 0.5)[0])
            raise DataError(f"train_dataset: column 'p_chosen', row {row}: got {p[row]}, expected p > 0.5 for loss 'robust'")
    if "weight" in columns:
        w = np.asarray(dataset["weight"], dtype=np.float64)
        bad = np.flatnonzero(~(np.isfinite(w) & (w >= 0)))
        if bad.size:
            raise DataError(f"train_dataset: column 'weight', row {int(bad[0])}: got {w[bad[0]]}, expected a finite number >= 0")
    if loss_type == "group_robust":
        from .group_robust import type_posteriors

        return type_posteriors(
            dataset.select_columns([c for c in ("group", "type", "type_probs") if c in columns]).to_pandas(), n_types)
    return None


def _build_class():
    trl = import_trl("SoftDPOTrainer")

    class SoftDPOTrainer(trl.DPOTrainer):
        """TRL's ``DPOTrainer`` training mixpref's per-example losses with exact soft labels and weights.

        Parameters
        ----------
        model, ref_model, args, train_dataset, eval_dataset, processing_class, ...
            As for ``trl.DPOTrainer``; ``args.beta`` is β. ``args.loss_type`` must stay TRL's
            default (``sigmoid``): the loss is chosen here.
        loss_type : str
            A mixpref loss (``mp.dpo.LOSSES``: ``sigmoid`` hard labels, ``soft`` soft labels,
            ``ipo_sum``, ``hinge``, ``robust``, ``unlikelihood``, ``generative``) or
            ``"group_robust"`` (``group_loss`` per pair, adaptive weights on annotator types).
        group_loss : str
            The per-pair loss of ``group_robust`` (soft labels).
        group_step : float
            Exponentiated-gradient step on the type weights, applied after each training batch.
        group_objective : {"dpo"}
            What drives the type weights: each type's excess DPO loss (GR-DPO). The tabular
            trainer's ``"win_rate"`` is refused here: an LM's win rate against its reference
            is an expectation over everything it can generate, not a function of the pairs
            in the batch (estimating it needs samples and a preference model per type).
        n_types : int, optional
            Number of types for ``group_robust`` with a ``type`` column (default: max + 1).

        The dataset may hold ``p_chosen`` (required by ``soft``, ``robust``, ``group_robust``),
        ``weight`` (each batch's loss is the weight-weighted mean) and ``type``/``type_probs``.
        Logged metrics add ``soft_margin``: the weight-weighted mean of ``(2p − 1)·β·h`` (with
        ``h`` the chosen-minus-rejected log-ratio margin), which rises as the policy follows
        the soft labels.

        Examples
        --------
        >>> # ds = mp.to_trl_dataset(mp.to_dpo_pairs(lottery, data, beta=0.1), keep_columns=True)
        >>> # trainer = mp.dpo.SoftDPOTrainer(model, args=trl.DPOConfig("out", beta=0.1),
        >>> #                                 train_dataset=ds, processing_class=tok, loss_type="soft")
        >>> # trainer.train()
        """

        def __init__(self, model, ref_model=None, args=None, train_dataset=None, *rest, loss_type="soft",
                     group_loss="soft", group_step=0.01, n_types=None, group_objective="dpo", **kwargs):
            check_trl_version()
            if group_objective != "dpo":
                raise DataError(
                    f"group_objective: got {group_objective!r}; SoftDPOTrainer supports only 'dpo' (GR-DPO's excess "
                    "loss). 'win_rate' needs each type's exact win rate of the policy against the reference, which "
                    "mp.dpo.train_tabular computes for a tabular policy but an LM's batch of pairs does not determine"
                )
            from .losses import RENAMED

            if loss_type in RENAMED:
                raise DataError(RENAMED[loss_type])
            if loss_type not in LOSSES + ("group_robust",):
                raise DataError(f"loss_type {loss_type!r}: unknown; expected one of {', '.join(LOSSES + ('group_robust',))}")
            if loss_type == "group_robust" and group_loss not in LOSSES:
                raise DataError(f"group_loss {group_loss!r}: unknown; expected one of {', '.join(LOSSES)}")
            if args is not None:
                if list(args.loss_type) != ["sigmoid"]:
                    raise DataError(
                        f"args.loss_type: got {args.loss_type}; SoftDPOTrainer chooses the loss itself, pass "
                        "loss_type=... to SoftDPOTrainer and leave DPOConfig.loss_type at its default"
                    )
                unsupported = [name for name, on in (("ld_alpha", args.ld_alpha is not None),
                                                     ("f_divergence_type", args.f_divergence_type != "reverse_kl"),
                                                     ("use_weighting", args.use_weighting)) if on]
                if unsupported:
                    raise DataError(f"DPOConfig {unsupported}: not supported by SoftDPOTrainer (use trl.DPOTrainer)")
            if train_dataset is None:
                raise DataError("train_dataset: required")
            type_probs = _check_dataset(train_dataset, loss_type, n_types)
            self.mixpref_loss = group_loss if loss_type == "group_robust" else loss_type
            self.group = None
            if type_probs is not None:
                from .group_robust import GroupWeights

                self.group = GroupWeights(type_probs.shape[1], group_step)
                if "type_probs" in train_dataset.column_names:
                    train_dataset = train_dataset.remove_columns("type_probs")
                # one column of group memberships, whichever of group/type/type_probs it came from
                train_dataset = train_dataset.add_column("type_probs", type_probs.tolist())
            self._soft = loss_type in _SOFT or loss_type == "group_robust"
            super().__init__(model, ref_model, args, *rest, train_dataset=train_dataset, **kwargs)
            self.data_collator = _KeepExtraColumns(self.data_collator, ("p_chosen", "weight", "type_probs"))

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            self._signature_columns = list(self._signature_columns) + ["p_chosen", "weight", "type_probs"]

        def sequence_logps(self, model, inputs):
            """Summed completion log-probabilities of the policy and the reference: (pc, pr, rc, rr)."""
            model_inputs = {k: v for k, v in inputs.items() if k not in EXTRA_COLUMNS}
            kwargs = {k: v for k, v in model_inputs.items() if k not in _NON_MODEL}
            kwargs["use_cache"] = False
            completion_mask = inputs["completion_mask"]
            labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
            outputs = model(**kwargs, labels=labels, fused_lm_head=True)
            seq_len = completion_mask.size(1) - 1
            # the fused head gives 0 where labels are -100, so the sum runs over completion tokens only
            pc, pr = outputs.log_probs[:, -seq_len:].sum(1).chunk(2, dim=0)
            if self.mixpref_loss in REFERENCE_FREE:
                return pc, pr, None, None
            if self.precompute_ref_logps:
                rc, rr = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
            else:
                rc, rr = self.compute_ref_log_probs(self.ref_model if self.ref_model is not None else self.model,
                                                    model_inputs)
            return pc, pr, rc, rr

        def _compute_loss(self, model, inputs, return_outputs):
            import torch

            mode = "train" if self.model.training else "eval"
            pc, pr, rc, rr = self.sequence_logps(model, inputs)
            n = pc.shape[0]
            ones = torch.ones(n, device=pc.device, dtype=torch.float32)
            p = inputs["p_chosen"].to(pc.dtype) if self._soft else None
            w = inputs.get("weight", ones).to(pc.dtype)
            if self.mixpref_loss == "unlikelihood":
                from .losses import _warn_vanishing_unlikelihood

                pc, pr = pc.clamp(max=-1e-6), pr.clamp(max=-1e-6)
                _warn_vanishing_unlikelihood(pr if p is None else torch.minimum(pc, pr))
            per_example = compute(self.mixpref_loss, pc, pr, rc, rr, self.beta, p)
            if self.group is None:
                loss = (w * per_example).sum() / w.sum().clamp_min(1e-12)
            else:
                # excess over the labels' entropy, so types with noisier labels are not always "worst"
                floor = -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))
                loss, type_losses = self.group.objective(per_example - floor, inputs["type_probs"].to(pc.dtype), w)
                if mode == "train" and torch.is_grad_enabled():
                    if self.accelerator.num_processes > 1:
                        type_losses = self.accelerator.reduce(type_losses.detach(), "mean")
                    self.group.update(type_losses)
                for k, a in enumerate(self.group.alpha.tolist()):
                    self._metrics[mode][f"type_weight/{k}"].append(a)
            with torch.no_grad():
                h = (pc - pr) if rc is None else (pc - rc) - (pr - rr)
                sign = ones if p is None else 2 * p - 1
                soft_margin = (w * sign * self.beta * h).sum() / w.sum().clamp_min(1e-12)
                gather = self.accelerator.gather_for_metrics
                self._metrics[mode]["soft_margin"].append(gather(soft_margin).mean().item())
                self._metrics[mode]["rewards/margins"].append(gather(self.beta * h).mean().item())
                self._metrics[mode]["rewards/accuracies"].append(gather((h > 0).float()).mean().item())
                self._metrics[mode]["logps/chosen"].append(gather(pc.detach()).mean().item())
                self._metrics[mode]["logps/rejected"].append(gather(pr.detach()).mean().item())
            if return_outputs:
                with torch.no_grad():
                    outputs = model(**{k: v for k, v in inputs.items() if k not in _NON_MODEL})
                return loss, outputs
            return loss

    return SoftDPOTrainer


def __getattr__(name):
    # the class is built on first use so that importing this module does not import TRL
    if name == "SoftDPOTrainer":
        cls = _build_class()
        globals()["SoftDPOTrainer"] = cls
        return cls
    raise AttributeError(name)

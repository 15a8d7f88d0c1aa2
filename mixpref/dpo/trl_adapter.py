"""Hand DPO pairs to TRL's DPOTrainer (with accelerate: the path to many GPUs).

TRL takes (prompt, chosen, rejected) rows only: no per-example soft labels (its
``label_smoothing`` is one global number, ignored by ``loss_type="sigmoid"``) and no
weights. The adapter carries both in expectation: soft labels by flipping each pair with
probability ``1 − p_chosen`` (:func:`mixpref.resample_soft_labels`), weights by
resampling rows in proportion to ``weight``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ._pairs import float_column, require_columns

# mixpref loss name -> TRL loss_type; "soft" is sigmoid on resampled labels
_TRL_LOSS = {"sigmoid": "sigmoid", "soft": "sigmoid", "ipo": "ipo", "hinge": "hinge", "robust": "robust"}


def _import_trl():
    try:
        import trl
    except ImportError as err:
        raise ImportError(
            "train_with_trl needs TRL, which did not import "
            f"({err}); install the extra with: pip install 'mixpref[trl]'"
        ) from err
    return trl


def prepare_trl_pairs(pairs, soft_labels=True, weights=True, random_state=0):
    """The rows TRL will see: soft labels and weights carried by resampling.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"prompt": ["Q", "Q"], "chosen": ["a", "b"], "rejected": ["b", "c"],
    ...                    "p_chosen": [1.0, 1.0], "weight": [1.0, 0.0]})
    >>> prepare_trl_pairs(df)["chosen"].tolist()
    ['a', 'a']
    """
    from ..targets.dpo_pairs import resample_soft_labels

    require_columns(pairs, ["prompt", "chosen", "rejected"])
    out = pairs.reset_index(drop=True)
    rng = np.random.default_rng(random_state)
    if weights and "weight" in out.columns:
        w = float_column(out, "weight")
        bad = np.flatnonzero(~(np.isfinite(w) & (w >= 0)))
        if bad.size:
            raise DataError(f"pairs: column 'weight', row {int(bad[0])}: got {w[bad[0]]}, expected a finite number >= 0")
        if not w.sum() > 0:
            raise DataError("pairs: column 'weight' sums to 0; expected some positive weight")
        if not np.allclose(w, w[0]):
            rows = rng.choice(len(out), size=len(out), replace=True, p=w / w.sum())
            out = out.iloc[np.sort(rows)].reset_index(drop=True)
    if soft_labels and "p_chosen" in out.columns:
        out = resample_soft_labels(out, random_state=int(rng.integers(2**31)))
    return out


def train_with_trl(model_dir, pairs, output_dir=None, loss="sigmoid", beta=0.1, soft_labels=True, weights=True,
                   conversational=False, random_state=0, train=True, tokenizer=None, **dpo_config):
    """Build TRL's ``DPOConfig`` and ``DPOTrainer`` for ``pairs`` and (by default) train.

    Parameters
    ----------
    model_dir : str, path or transformers model
        A local causal-LM folder (or a loaded model; then pass ``tokenizer``).
    pairs : pandas.DataFrame
        ``prompt``, ``chosen``, ``rejected`` (texts or messages), optional ``p_chosen``, ``weight``.
    output_dir : str or path, optional
        TRL's output folder (checkpoints); default ``<model_dir>-dpo``.
    loss : str
        A mixpref loss with a TRL counterpart (``sigmoid``, ``soft``, ``ipo``, ``hinge``,
        ``robust``); a TRL ``loss_type`` in ``dpo_config`` takes precedence.
    beta : float
    soft_labels : bool
        Flip pairs with probability ``1 − p_chosen`` (soft-label DPO in expectation). For
        ``loss="robust"`` the labels are kept and TRL's ``label_smoothing`` is set to the
        mean noise rate ``1 − p_chosen`` instead.
    weights : bool
        Resample rows in proportion to ``weight`` when weights differ.
    conversational : bool
        Hand TRL the conversational format (needs a tokenizer with a chat template).
    random_state : int
        Seeds the resampling and TRL (``seed``).
    train : bool
        Call ``trainer.train()`` before returning.
    tokenizer : transformers tokenizer, optional
        Default: loaded from ``model_dir``.
    **dpo_config
        Any ``trl.DPOConfig`` field (``learning_rate``, ``per_device_train_batch_size``,
        ``max_steps``, ``precompute_ref_log_probs``, ...). Without CUDA, ``bf16`` defaults to
        False; ``report_to`` defaults to ``"none"``.

    Returns
    -------
    trl.DPOTrainer

    Examples
    --------
    >>> # trainer = mp.dpo.train_with_trl("my-small-lm", pairs, max_steps=100, learning_rate=1e-6)
    >>> # trainer.save_model()
    """
    trl = _import_trl()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..targets.writers import to_trl_dataset

    loss_type = dpo_config.pop("loss_type", None)
    if loss_type is None:
        if loss not in _TRL_LOSS:
            raise DataError(
                f"loss {loss!r}: TRL has no counterpart; use one of {sorted(_TRL_LOSS)} or mp.dpo.train_lm, "
                "which runs every loss in mp.dpo.LOSSES"
            )
        loss_type = _TRL_LOSS[loss]
    if loss_type == "robust" and "label_smoothing" not in dpo_config:
        # TRL's robust loss reads the label-noise rate from one global label_smoothing; mixpref's
        # "robust" reads it per pair as 1 - p_chosen. Use the mean rate and keep the labels as
        # given: flipping them as well would count the noise twice.
        p = float_column(pairs, "p_chosen") if "p_chosen" in pairs.columns else np.ones(len(pairs))
        dpo_config["label_smoothing"] = float(np.clip(1.0 - np.nanmean(p), 0.0, 0.499))
        soft_labels = False
    rows = prepare_trl_pairs(pairs, soft_labels=soft_labels, weights=weights, random_state=random_state)
    dataset = to_trl_dataset(rows, conversational=conversational)

    if isinstance(model_dir, (str, Path)):
        path = Path(model_dir)
        if not path.is_dir():
            raise FileNotFoundError(f"model_dir: {str(path)!r} is not a folder holding a Hugging Face causal LM")
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(path, local_files_only=True)
        default_out = f"{str(path).rstrip('/')}-dpo"
    else:
        model = model_dir
        if tokenizer is None:
            raise DataError("tokenizer: required when model_dir is a loaded model")
        default_out = "mixpref-dpo"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    dpo_config.setdefault("report_to", "none")
    dpo_config.setdefault("seed", int(random_state))
    if not torch.cuda.is_available():
        dpo_config.setdefault("bf16", False)
    config = trl.DPOConfig(output_dir=str(output_dir or default_out), beta=beta, loss_type=[loss_type], **dpo_config)
    trainer = trl.DPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    if train:
        trainer.train()
    return trainer

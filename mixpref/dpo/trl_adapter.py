"""Hand DPO pairs to TRL (with accelerate: the path to many GPUs).

With a tested TRL version the pairs train through :class:`mixpref.dpo.SoftDPOTrainer`:
TRL's DPOTrainer with mixpref's per-example losses, exact soft labels and weights. On other
TRL versions (``exact=False``) the adapter carries soft labels and weights in expectation
by resampling: rows in proportion to ``weight`` (residual resampling: each row its whole
expected count, the remainder drawn without replacement, so as many distinct pairs as the
weights allow are kept), and label flips with probability ``1 − p_chosen`` drawn anew for
every epoch.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ._pairs import SOFT_BY_DEFAULT, float_column, require_columns

# mixpref loss name -> TRL loss_type for the resampling path; "soft" is sigmoid on resampled labels.
# ipo_sum is not offered there: TRL's ipo averages log-ratios per token, mixpref's sums them
_TRL_LOSS = {"sigmoid": "sigmoid", "soft": "sigmoid", "hinge": "hinge", "robust": "robust"}


def _residual_rows(w, n, rng):
    """n row indices with expected counts n·w/Σw: the whole part of each count, then the
    remainder without replacement (distinct rows wherever the weights allow)."""
    expected = n * w / w.sum()
    whole = np.floor(expected).astype(np.int64)
    rest = expected - whole
    k = n - int(whole.sum())
    extra = rng.choice(len(w), size=k, replace=False, p=rest / rest.sum()) if k > 0 else np.zeros(0, np.int64)
    return np.sort(np.concatenate([np.repeat(np.arange(len(w)), whole), extra]))


def prepare_trl_pairs(pairs, soft_labels=True, weights=True, random_state=0, epochs=1):
    """The rows TRL will see when soft labels and weights are carried by resampling.

    Parameters
    ----------
    pairs : pandas.DataFrame
    soft_labels : bool
        Flip each row with probability ``1 − p_chosen`` (independently in each epoch).
    weights : bool
        Residual resampling in proportion to ``weight`` when weights differ.
    random_state : int
    epochs : int
        Copies of the rows, each with its own label flips (train them as one epoch).

    Returns
    -------
    pandas.DataFrame
        ``attrs["distinct_pairs"]``: how many of the input pairs appear at least once.

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
            out = out.iloc[_residual_rows(w, len(out), rng)].reset_index(drop=True)
    distinct = int(out.drop_duplicates(["prompt", "chosen", "rejected"]).shape[0]) if len(out) else 0
    copies = []
    for _ in range(max(1, int(epochs))):
        copy = out
        if soft_labels and "p_chosen" in out.columns:
            copy = resample_soft_labels(out, random_state=int(rng.integers(2**31)))
        copies.append(copy)
    result = pd.concat(copies, ignore_index=True) if len(copies) > 1 else copies[0]
    result.attrs["distinct_pairs"] = distinct
    return result


def load_causal_lm(model_dir, what="model_dir"):
    """Load a local causal LM and its tokenizer, or a DataError naming the folder and the problem."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(model_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"{what}: {str(path)!r} is not a folder holding a Hugging Face causal LM")
    if not (path / "config.json").exists():
        raise DataError(f"{what}: {str(path)!r} holds no model (no config.json); expected a Hugging Face causal-LM folder")
    try:
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    except ValueError as err:
        # BERT-like encoders would see future tokens: refuse rather than train a non-causal model
        raise DataError(
            f"{what}: {str(path)!r} holds a model that is not a causal LM ({err}); DPO needs a decoder such as GPT-2, "
            "Llama or Qwen"
        ) from err
    except OSError as err:
        raise DataError(f"{what}: {str(path)!r} holds no loadable weights ({err})") from err
    require_causal(model, what, path)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return model, tokenizer


def is_causal(model):
    """Whether the model's output at position 0 ignores the token at position 1 (one 2-token forward).

    A config flag is not enough: ``AutoModelForCausalLM`` loads BERT as ``BertLMHeadModel``,
    which attends both ways unless ``is_decoder`` is set.
    """
    import torch

    vocab = int(model.config.get_text_config().vocab_size)
    device = next(model.parameters()).device
    ids = torch.tensor([[1, 2], [1, min(3, vocab - 1)]], device=device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    model.train(was_training)
    return bool(torch.allclose(logits[0, 0], logits[1, 0], atol=1e-5))


def require_causal(model, what, path=None):
    """Raise a DataError naming ``what`` (and ``path``) unless ``model`` is causal (:func:`is_causal`)."""
    if not is_causal(model):
        where = f"{what}: {str(path)!r} holds a" if path is not None else f"{what}: a"
        raise DataError(
            f"{where} {type(model).__name__}, which is not a causal LM (the prediction at a "
            "position changes with later tokens); DPO needs a decoder such as GPT-2, Llama or Qwen"
        )


def model_max_length(model, tokenizer, requested=None):
    """``requested`` or the longest sequence the model supports (positions), whichever is smaller."""
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    if requested is None:
        return int(limit) if limit else 1024
    if limit and int(requested) > int(limit):
        raise DataError(f"max_length: got {requested}, but the model supports at most {limit} positions")
    return int(requested)


def train_with_trl(model_dir, pairs, output_dir=None, loss="sigmoid", beta=0.1, soft_labels=None, weights=True,
                   conversational=False, random_state=0, train=True, tokenizer=None, exact=None, **dpo_config):
    """Build a TRL DPO trainer for ``pairs`` and (by default) train.

    Parameters
    ----------
    model_dir : str, path or transformers model
        A local causal-LM folder (or a loaded model; then pass ``tokenizer``). A folder
        without a model, or one holding a non-causal model (BERT), is a DataError.
    pairs : pandas.DataFrame
        ``prompt``, ``chosen``, ``rejected`` (texts or messages), optional ``p_chosen``, ``weight``
        (and ``type``/``type_probs`` for ``loss="group_robust"``).
    output_dir : str or path, optional
        TRL's output folder (checkpoints); default ``<model_dir>-dpo``.
    loss : str
        A mixpref loss name, meaning what it means in every mixpref trainer: ``sigmoid`` hard
        labels, ``soft`` soft labels, ``robust`` (per-pair flip rate ``1 − p_chosen``),
        ``hinge``, ``ipo_sum`` (summed log-ratios; TRL's ``ipo`` averages per token), ``unlikelihood``, ``generative``,
        ``group_robust``. The exact path runs all of them; the resampling path only
        ``sigmoid``, ``soft``, ``hinge``, ``robust``.
    beta : float
    soft_labels : bool, optional
        Train on ``p_chosen``; default only for ``soft`` and ``robust`` (as ``train_lm``).
    weights : bool
        Use ``weight``.
    conversational : bool
        Hand TRL the conversational format (needs a tokenizer with a chat template).
    random_state : int
        Seeds the resampling and TRL (``seed``).
    train : bool
        Call ``trainer.train()`` before returning.
    tokenizer : transformers tokenizer, optional
        Default: loaded from ``model_dir``.
    exact : bool, optional
        ``True``: :class:`mixpref.dpo.SoftDPOTrainer` (needs a tested TRL version). ``False``:
        TRL's own DPOTrainer on resampled rows. Default: exact when the TRL version is tested.
    **dpo_config
        Any ``trl.DPOConfig`` field (``learning_rate``, ``per_device_train_batch_size``,
        ``max_steps``, ``precompute_ref_log_probs``, ``max_length``, ...). ``max_length``
        defaults to the model's positions; longer pairs are truncated by TRL (counted in a
        warning). Without CUDA, ``bf16`` defaults to False; ``report_to`` to ``"none"``.

    Returns
    -------
    trl.DPOTrainer
        A :class:`mixpref.dpo.SoftDPOTrainer` on the exact path; ``trainer.mixpref_info``
        says which path ran and (resampling) how many distinct pairs were kept.

    Examples
    --------
    >>> # trainer = mp.dpo.train_with_trl("my-small-lm", pairs, loss="soft", max_steps=100)
    >>> # trainer.save_model()
    """
    from .soft_trainer import check_trl_version, import_trl

    trl = import_trl("train_with_trl")
    import torch

    from ..targets.writers import to_trl_dataset

    if "loss_type" in dpo_config:
        raise DataError("loss_type: pass loss=... (a mixpref loss name); train_with_trl sets TRL's loss_type itself")
    if exact is None:
        try:
            check_trl_version()
            exact = True
        except DataError as err:
            warnings.warn(f"{err}; training on resampled soft labels instead", UserWarning, stacklevel=2)
            exact = False
    elif exact:
        check_trl_version()
    use_soft = loss in SOFT_BY_DEFAULT or loss == "group_robust" if soft_labels is None else bool(soft_labels)
    info = {"path": "exact" if exact else "resampled", "pairs": len(pairs)}
    if exact:
        rows = pairs if weights or "weight" not in pairs.columns else pairs.drop(columns="weight")
        if not use_soft and "p_chosen" in rows.columns and loss not in ("soft", "robust", "group_robust"):
            rows = rows.drop(columns="p_chosen")
        if loss == "sigmoid" and use_soft:
            loss = "soft"  # sigmoid with soft labels is the soft loss
    else:
        if loss not in _TRL_LOSS:
            raise DataError(
                f"loss {loss!r}: TRL's own trainer has no counterpart; use one of {sorted(_TRL_LOSS)}, exact=True "
                "(SoftDPOTrainer) or mp.dpo.train_lm, which run every loss in mp.dpo.LOSSES"
            )
        if loss == "robust" and "label_smoothing" not in dpo_config:
            # TRL's robust loss reads one global noise rate: use the mean rate and keep the labels
            # as given (flipping them as well would count the noise twice)
            p = float_column(pairs, "p_chosen") if "p_chosen" in pairs.columns else np.ones(len(pairs))
            dpo_config["label_smoothing"] = float(np.clip(1.0 - np.nanmean(p), 0.0, 0.499))
            use_soft = False
        epochs = int(np.ceil(dpo_config.get("num_train_epochs", 3))) if "max_steps" not in dpo_config else 1
        rows = prepare_trl_pairs(pairs, soft_labels=use_soft, weights=weights, random_state=random_state, epochs=epochs)
        if epochs > 1:
            dpo_config["num_train_epochs"] = 1  # the rows already hold one copy per epoch, each with its own flips
        info.update(distinct_pairs=rows.attrs["distinct_pairs"], epochs_of_flips=epochs)
        if weights and "weight" in pairs.columns and rows.attrs["distinct_pairs"] < len(pairs):
            warnings.warn(f"train_with_trl: weight resampling kept {rows.attrs['distinct_pairs']} of {len(pairs)} "
                          "distinct pairs (the rest have too little weight to be drawn)", UserWarning, stacklevel=2)
    dataset = to_trl_dataset(rows, conversational=conversational, keep_columns=exact)

    if isinstance(model_dir, (str, Path)):
        model, loaded_tok = load_causal_lm(model_dir)
        tokenizer = tokenizer or loaded_tok
        default_out = f"{str(Path(model_dir)).rstrip('/')}-dpo"
    else:
        model = model_dir
        if tokenizer is None:
            raise DataError("tokenizer: required when model_dir is a loaded model")
        require_causal(model, "model_dir")
        default_out = "mixpref-dpo"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dpo_config["max_length"] = model_max_length(model, tokenizer, dpo_config.get("max_length"))
    _warn_truncated(rows, tokenizer, dpo_config["max_length"], conversational)

    dpo_config.setdefault("report_to", "none")
    dpo_config.setdefault("seed", int(random_state))
    if not torch.cuda.is_available():
        dpo_config.setdefault("bf16", False)
    out = str(output_dir or default_out)
    if exact:
        from .soft_trainer import SoftDPOTrainer

        config = trl.DPOConfig(output_dir=out, beta=beta, **dpo_config)
        trainer = SoftDPOTrainer(model, args=config, train_dataset=dataset, processing_class=tokenizer, loss_type=loss)
    else:
        config = trl.DPOConfig(output_dir=out, beta=beta, loss_type=[_TRL_LOSS[loss]], **dpo_config)
        trainer = trl.DPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    trainer.mixpref_info = info
    if train:
        trainer.train()
    return trainer


def _warn_truncated(rows, tokenizer, max_length, conversational):
    if conversational or not len(rows):
        return
    prompts, chosen, rejected = (rows[c].astype(str).tolist() for c in ("prompt", "chosen", "rejected"))
    n = 0
    for p, c, r in zip(prompts, chosen, rejected):
        longest = max(len(tokenizer(p + c)["input_ids"]), len(tokenizer(p + r)["input_ids"])) + 1  # + EOS
        n += longest > max_length
    if n:
        warnings.warn(f"train_with_trl: {n} of {len(rows)} pairs are longer than max_length={max_length} tokens and "
                      "are truncated (TRL keeps their start)", UserWarning, stacklevel=3)

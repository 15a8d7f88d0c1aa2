"""DPO-family training of a small local causal LM, with resumable checkpoints.

Written by hand rather than through TRL so that every loss in ``mp.dpo.LOSSES`` (soft
labels, per-example weights, token-level unlikelihood) runs exactly as defined, on one
device, with nothing but transformers and torch; :func:`mixpref.dpo.train_with_trl` is the
path to many GPUs.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .._device import resolve_device, resolve_weights_dtype
from ._pairs import check_loss, require_columns, single_thread_if_small, soft_labels_and_weights
from .lm_logprobs import encode, encoded_logprobs, token_logprobs
from .losses import REFERENCE_FREE
from ._lm_utils import (_checkpoints, _disable_dropout, _fingerprint, _max_length, _save_checkpoint,
                        _warn_truncated)


@dataclass
class LMTrainResult:
    """What :func:`train_lm` returns.

    Attributes
    ----------
    model, tokenizer
        The trained model (on its training device) and its tokenizer.
    history : pandas.DataFrame
        One row per optimizer step: ``step``, ``loss`` (weighted mean), ``margin`` (mean
        chosen-minus-rejected log-ratio margin on the step's pairs, before the update).
    output_dir : pathlib.Path or None
        Folder holding the final model (loadable with ``from_pretrained``) and checkpoints.
    global_step : int
        Optimizer steps done, counting steps before a resume.
    """

    model: object
    tokenizer: object
    history: pd.DataFrame
    output_dir: Path | None
    global_step: int
    reference_logprobs: np.ndarray | None = field(default=None, repr=False)


def _check_text(pairs, column):
    values = pairs[column].tolist()
    for row, v in enumerate(values):
        if not isinstance(v, str):
            raise DataError(f"pairs: column {column!r}, row {row}: got {type(v).__name__}, expected text (str)")
    return values


def _reference_logprobs(model, ref_dir, encoded, pad_id, device, dtype, batch_size, cache, fingerprint):
    """(n, 2) summed log-probabilities of chosen and rejected under the reference, computed once.

    ``ref_dir`` None: the reference is ``model`` itself (not yet updated). ``cache``: an
    ``.npz`` reused when its fingerprint matches, else (re)written atomically.
    """
    if cache is not None and cache.exists():
        cached = np.load(cache, allow_pickle=False)
        if str(cached["fingerprint"]) == fingerprint:
            return cached["logprobs"]
    if ref_dir is None:
        ref_model = model
    else:
        from transformers import AutoModelForCausalLM

        ref_model = AutoModelForCausalLM.from_pretrained(ref_dir, dtype=dtype, local_files_only=True).to(device)
    ref = np.stack([encoded_logprobs(ref_model, enc, pad_id, device, batch_size) for enc in encoded], axis=1)
    if cache is not None:
        from .._io import atomic_path

        with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, logprobs=ref, fingerprint=np.array(fingerprint))
    return ref


def train_lm(
    model_dir,
    pairs,
    loss="sigmoid",
    beta=0.1,
    epochs=1,
    batch_size=8,
    grad_accum=1,
    lr=1e-5,
    dtype="float32",
    device="auto",
    output_dir=None,
    max_steps=None,
    soft_labels=None,
    unlikelihood="sequence",
    reference_dir=None,
    max_length=None,
    save_every=None,
    keep_checkpoints=2,
    resume=True,
    weight_decay=0.0,
    max_grad_norm=1.0,
    random_state=0,
):
    """Train a local causal LM on (prompt, chosen, rejected) pairs with a DPO-family loss.

    Reference log-probabilities are computed once, before training (and stored in
    ``output_dir`` so a resumed run does not recompute them); only response tokens count
    in the sequence log-probabilities. Each optimizer step sees ``batch_size * grad_accum``
    pairs and minimises their weighted mean loss.

    Parameters
    ----------
    model_dir : str or path
        A local Hugging Face causal-LM folder (``from_pretrained``); it is also the reference
        unless ``reference_dir`` is given.
    pairs : pandas.DataFrame
        Text columns ``prompt``, ``chosen``, ``rejected``; optional ``p_chosen`` and ``weight``
        (as :func:`mixpref.to_dpo_pairs` writes them).
    loss : str
        One of ``mp.dpo.LOSSES``.
    beta : float
    epochs : int
        Passes over the pairs (ignored when ``max_steps`` is given).
    batch_size, grad_accum : int
        Pairs per forward pass, forward passes per optimizer step.
    lr : float
        AdamW learning rate.
    dtype : str or torch.dtype
        Weights' dtype (``"float32"``, ``"bfloat16"``, ``"float16"``, ``"auto"``); losses are
        computed in float32.
    device : str
        ``"auto"`` picks CUDA when available.
    output_dir : str or path, optional
        Where checkpoints (``checkpoint-NNNNNNN/``, safetensors) and the final model go; a run
        with ``resume=True`` continues from the newest checkpoint found there.
    max_steps : int, optional
        Optimizer steps to run in total (new shuffles past the first epoch).
    soft_labels : bool, optional
        Feed ``p_chosen`` to the loss; default only for ``soft`` and ``robust``.
    unlikelihood : {"sequence", "token"}
        For ``loss="unlikelihood"``: ``−log(1 − π(y_l))`` on the whole sequence, or
        ``−Σ_t log(1 − π(y_l,t | ...))`` on each rejected token (Welleck et al.).
    reference_dir : str or path, optional
        A different reference model.
    max_length : int, optional
        Prompt + response tokens (default: the model's positions, at most 4096); longer pairs
        keep the prompt's end and the response's start, and a warning counts them. More than
        the model supports is a DataError.
    save_every : int, optional
        Checkpoint every this many steps (default: at the end of each epoch and of training).
    keep_checkpoints : int
        Newest checkpoints kept (0 keeps all).
    resume : bool
    weight_decay, max_grad_norm : float
    random_state : int
        Seeds the order of pairs in each epoch.

    Returns
    -------
    LMTrainResult

    Examples
    --------
    >>> # result = mp.dpo.train_lm("my-small-lm", pairs, loss="sigmoid", beta=0.1,
    >>> #                          max_steps=100, output_dir="runs/dpo")
    >>> # result.history[["step", "loss", "margin"]].tail()
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .losses import loss as loss_fn
    from .losses import token_unlikelihood

    check_loss(loss)
    if unlikelihood not in ("sequence", "token"):
        raise DataError(f"unlikelihood: got {unlikelihood!r}, expected 'sequence' or 'token'")
    for name, value in (("batch_size", batch_size), ("grad_accum", grad_accum), ("epochs", epochs)):
        if int(value) < 1:
            raise DataError(f"{name}: got {value}, expected an integer >= 1")
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise DataError(f"beta: got {beta!r}, expected a positive number") from None
    if max_length is not None and int(max_length) < 2:
        # one prompt token is needed to predict the first response token from
        raise DataError(f"max_length: got {max_length}, expected an integer >= 2")
    require_columns(pairs, ["prompt", "chosen", "rejected"])
    prompts, chosen, rejected = (_check_text(pairs, c) for c in ("prompt", "chosen", "rejected"))
    p_np, w_np = soft_labels_and_weights(pairs, loss, soft_labels)
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model_dir: {str(model_dir)!r} is not a folder holding a Hugging Face causal LM")
    if not (model_dir / "config.json").exists():
        raise DataError(f"model_dir: {str(model_dir)!r} holds no model (no config.json); expected a Hugging Face causal-LM folder")
    max_length = _max_length(model_dir, max_length)
    if reference_dir is not None:
        # checked here: from_pretrained would read a non-folder as a Hub repo id and download it
        reference_dir = Path(reference_dir)
        if not reference_dir.is_dir():
            raise FileNotFoundError(
                f"reference_dir: {str(reference_dir)!r} is not a folder holding a Hugging Face causal LM "
                "(mixpref never downloads weights)"
            )
    output_dir = Path(output_dir) if output_dir is not None else None
    dev = resolve_device(device)
    tdtype = resolve_weights_dtype(dtype)

    n = len(pairs)
    per_step = batch_size * grad_accum
    steps_per_epoch = math.ceil(n / per_step)
    total = int(max_steps) if max_steps is not None else int(epochs) * steps_per_epoch
    token_ul = loss == "unlikelihood" and unlikelihood == "token"
    needs_ref = loss not in REFERENCE_FREE

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    pad_id = tokenizer.pad_token_id
    enc_c = [encode(tokenizer, p, r, max_length) for p, r in zip(prompts, chosen)]
    enc_r = [encode(tokenizer, p, r, max_length) for p, r in zip(prompts, rejected)]
    _warn_truncated(tokenizer, prompts, chosen, rejected, max_length)

    # reference log-probs depend on the texts, max_length and the reference model only
    fingerprint = _fingerprint([prompts, chosen, rejected], max_length, (reference_dir or model_dir).resolve())
    # resume: newest complete checkpoint of the same run (same targets, loss and batch order);
    # changing any of these mid-run would silently mix two trainings in one model
    run_fingerprint = _fingerprint(
        [fingerprint, loss, beta, unlikelihood, None if p_np is None else p_np.tolist(), w_np.tolist(),
         int(per_step), int(random_state)],
        max_length, None,
    )
    ckpts = _checkpoints(output_dir) if resume else []
    state = {"global_step": 0, "history": [], "fingerprint": run_fingerprint}
    load_from = model_dir
    if ckpts:
        saved = json.loads((ckpts[-1] / "trainer_state.json").read_text())
        if saved.get("fingerprint") != run_fingerprint:
            raise DataError(
                f"output_dir: {str(output_dir)!r} holds checkpoints of a different run (pairs, reference, loss, "
                "beta, soft labels, weights, pairs per step or random_state); use another output_dir or resume=False"
            )
        state, load_from = saved, ckpts[-1]
    try:
        model = AutoModelForCausalLM.from_pretrained(load_from, dtype=tdtype, local_files_only=True).to(dev)
    except ValueError as err:
        raise DataError(f"model_dir: {str(model_dir)!r} holds a model that is not a causal LM ({err})") from err
    from .trl_adapter import require_causal

    require_causal(model, "model_dir", model_dir)
    # tiny models train faster on one thread; real ones keep them all
    n_params = sum(q.numel() for q in model.parameters())
    with single_thread_if_small(dev, n_params, limit=5_000_000):
        _disable_dropout(model)

        ref = None
        if needs_ref:
            # the model just loaded is the reference only when it is model_dir's own weights
            ref_dir = None if reference_dir is None and load_from == model_dir else reference_dir or model_dir
            cache = output_dir / "reference_logprobs.npz" if output_dir is not None else None
            ref = _reference_logprobs(model, ref_dir, (enc_c, enc_r), pad_id, dev, tdtype, batch_size, cache,
                                      fingerprint)

        optimizer = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=lr, weight_decay=weight_decay)
        if ckpts:
            optimizer.load_state_dict(torch.load(ckpts[-1] / "optimizer.pt", map_location=dev, weights_only=True))

        def step_indices(step):
            epoch, pos = divmod(step, steps_per_epoch)
            perm = np.random.default_rng([int(random_state), epoch]).permutation(n)
            return perm[pos * per_step:(pos + 1) * per_step]

        w_all = torch.tensor(w_np, dtype=torch.float32, device=dev)
        p_all = None if p_np is None else torch.tensor(p_np, dtype=torch.float32, device=dev)
        ref_all = None if ref is None else torch.as_tensor(ref, dtype=torch.float32, device=dev)
        history = list(state["history"])
        model.train()
        for step in range(int(state["global_step"]), total):
            idx = step_indices(step)
            total_w = w_all[idx].sum().clamp_min(1e-12)
            optimizer.zero_grad(set_to_none=True)
            step_loss, margins = 0.0, []
            for start in range(0, len(idx), batch_size):
                b = idx[start:start + batch_size]
                lp, mask = token_logprobs(model, [enc_c[k] for k in b] + [enc_r[k] for k in b], pad_id, dev)
                seq = (lp * mask).sum(-1)
                pc, pr = seq[: len(b)], seq[len(b):]
                rc, rr = (ref_all[b, 0], ref_all[b, 1]) if ref_all is not None else (None, None)
                pb = None if p_all is None else p_all[b]
                if token_ul:
                    hard = -pc + token_unlikelihood(lp[len(b):], mask[len(b):])
                    if pb is None:
                        per_ex = hard
                    else:
                        flipped = -pr + token_unlikelihood(lp[: len(b)], mask[: len(b)])
                        per_ex = pb * hard + (1 - pb) * flipped
                else:
                    per_ex = loss_fn(loss, pc, pr, rc, rr, beta=beta, p=pb)
                value = (w_all[b] * per_ex).sum() / total_w
                value.backward()
                step_loss += value.item()
                with torch.no_grad():
                    h = (pc - pr) if rc is None else (pc - rc) - (pr - rr)
                    margins.append(h.detach().double().cpu())
            if max_grad_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            history.append({"step": step + 1, "loss": step_loss, "margin": float(torch.cat(margins).mean())})
            done = step + 1
            at_epoch_end = done % steps_per_epoch == 0
            if output_dir is not None and (done == total or (save_every and done % save_every == 0)
                                           or (not save_every and at_epoch_end)):
                state = {"global_step": done, "history": history, "fingerprint": run_fingerprint,
                         "loss": loss, "beta": beta, "total_steps": total}
                _save_checkpoint(output_dir, done, model, tokenizer, optimizer, state, keep_checkpoints)

    model.eval()
    if output_dir is not None:
        # write beside, then move file by file: a reader never sees a half-written weight file
        staging = output_dir / ".tmp-final"
        if staging.exists():
            shutil.rmtree(staging)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        for path in staging.iterdir():
            os.replace(path, output_dir / path.name)
        staging.rmdir()
    return LMTrainResult(
        model=model,
        tokenizer=tokenizer,
        history=pd.DataFrame(history, columns=["step", "loss", "margin"]),
        output_dir=output_dir,
        global_step=len(history),
        reference_logprobs=ref,
    )

"""Helpers of train_lm: run fingerprints, checkpoints, model limits (kept apart so the trainer stays readable)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

from ..errors import DataError


def _fingerprint(pairs_text, max_length, reference):
    h = hashlib.sha256(json.dumps([pairs_text, max_length, str(reference)]).encode())
    return h.hexdigest()[:16]


def _disable_dropout(model):
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def _checkpoints(output_dir):
    if output_dir is None or not output_dir.exists():
        return []
    found = []
    for d in output_dir.glob("checkpoint-*"):
        if (d / "trainer_state.json").exists() and d.name.split("-")[-1].isdigit():
            found.append((int(d.name.split("-")[-1]), d))
    return [d for _, d in sorted(found)]


def _save_checkpoint(output_dir, step, model, tokenizer, optimizer, state, keep):
    import torch

    final = output_dir / f"checkpoint-{step:07d}"
    tmp = output_dir / f".tmp-checkpoint-{step:07d}"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)  # safetensors
    tokenizer.save_pretrained(tmp)
    # plain tensors and numbers only, so that loading works with weights_only=True
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    (tmp / "trainer_state.json").write_text(json.dumps(state))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)  # a checkpoint is either complete or absent
    for old in _checkpoints(output_dir)[:-keep] if keep else []:
        shutil.rmtree(old)


def _max_length(model_dir, requested):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    limit = getattr(text, "max_position_embeddings", None) or getattr(text, "n_positions", None)
    if requested is None:
        # beyond 4096 a default would mostly cost memory on short preference pairs
        return int(min(limit, 4096)) if limit else 512
    if limit and int(requested) > int(limit):
        raise DataError(f"max_length: got {requested}, but the model in {str(model_dir)!r} supports at most {limit} positions")
    return int(requested)


def _warn_truncated(tokenizer, prompts, chosen, rejected, max_length):
    import warnings

    n = 0
    for p, c, r in zip(prompts, chosen, rejected):
        lp = len(tokenizer(p, add_special_tokens=True)["input_ids"]) + 1  # + EOS
        n += lp + max(len(tokenizer(c, add_special_tokens=False)["input_ids"]),
                      len(tokenizer(r, add_special_tokens=False)["input_ids"])) > max_length
    if n:
        warnings.warn(f"train_lm: {n} of {len(prompts)} pairs are longer than max_length={max_length} tokens and are "
                      "truncated (the prompt's end and the response's start are kept)", UserWarning, stacklevel=3)

"""Log-probabilities of responses under a causal LM: tokenising prompt + response, and scoring.

Shared by :func:`mixpref.dpo.train_lm` (policy and reference) and the self-play loop.
"""

from __future__ import annotations

import numpy as np


def encode(tokenizer, prompt, response, max_length):
    """Token ids of prompt + response + EOS and a mask that is 1 on response tokens only."""
    p_ids = list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
    r_ids = list(tokenizer(response, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        r_ids.append(tokenizer.eos_token_id)
    if not p_ids:
        # the first response token needs a context position to be predicted from
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        p_ids = [start]
    if len(p_ids) + len(r_ids) > max_length:
        # keep the prompt's end (what the response answers) and the response's start, using
        # every position the response leaves free (at least one prompt token to predict from)
        keep_prompt = max(1, min(len(p_ids), max_length - len(r_ids)))
        p_ids = p_ids[-keep_prompt:]
        r_ids = r_ids[: max_length - len(p_ids)]
    return p_ids + r_ids, [0] * len(p_ids) + [1] * len(r_ids)


def _pad_batch(encoded, pad_id, device):
    import torch

    width = max(len(ids) for ids, _ in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    att = torch.zeros((len(encoded), width), dtype=torch.long)
    resp = torch.zeros((len(encoded), width), dtype=torch.float32)
    for k, (i, m) in enumerate(encoded):
        ids[k, : len(i)] = torch.tensor(i)
        att[k, : len(i)] = 1
        resp[k, : len(m)] = torch.tensor(m, dtype=torch.float32)
    return ids.to(device), att.to(device), resp.to(device)


def token_logprobs(model, encoded, pad_id, device):
    """Per-token log-probabilities of each sequence's own next tokens and the response mask."""
    import torch

    ids, att, resp = _pad_batch(encoded, pad_id, device)
    logits = model(input_ids=ids, attention_mask=att).logits[:, :-1].float()
    logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return logp, resp[:, 1:]


def sequence_logprobs(model, tokenizer, prompts, responses, batch_size=8, max_length=512, device=None):
    """Summed log-probability ``log π(response | prompt)`` of each response tokens (+ EOS).

    Parameters
    ----------
    model : transformers causal LM
    tokenizer : its tokenizer
    prompts, responses : sequences of str
    batch_size, max_length : int
    device : torch.device, optional
        Defaults to the model's device.

    Returns
    -------
    numpy.ndarray, shape (n,), float64

    Examples
    --------
    >>> # lp = mp.dpo.sequence_logprobs(model, tok, ["Q: 2+2?"], [" 4"])
    """
    device = device or next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = [encode(tokenizer, p, r, max_length) for p, r in zip(prompts, responses)]
    if not encoded:
        return np.zeros(0)
    return encoded_logprobs(model, encoded, pad_id, device, batch_size)


def encoded_logprobs(model, encoded, pad_id, device, batch_size):
    """Summed response log-probabilities of already :func:`encode`-d sequences, in batches, in eval mode."""
    import torch

    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            lp, mask = token_logprobs(model, encoded[start:start + batch_size], pad_id, device)
            out.append((lp * mask).sum(-1).double().cpu())
    model.train(was_training)
    return torch.cat(out).numpy()

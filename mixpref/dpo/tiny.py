"""A tiny random causal LM with a tokenizer built in code: for tests, studies and smoke runs.

Nothing is downloaded: the tokenizer is a byte-level BPE trained on a few built-in
sentences (byte-level, so any text encodes without unknown tokens) and the model is a
randomly initialised GPT-2 of a few thousand parameters.
"""

from __future__ import annotations

from pathlib import Path

_WORDS = (
    "the a an is it this that which what who how why better worse good bad kind rude clear vague "
    "answer question yes no maybe fine great poor cat dog sun rain because and or not ? ! . ,"
).split()


def tiny_causal_lm(path, seed=0, n_layer=2, n_embd=32, n_head=2, n_positions=128, vocab_size=320, corpus=None):
    """Save a random GPT-2 and its byte-level BPE tokenizer to ``path``; return the path.

    Parameters
    ----------
    path : str or path
        Folder to write (created); loadable with ``AutoModelForCausalLM.from_pretrained``.
    seed : int
        Seeds the weights.
    n_layer, n_embd, n_head, n_positions : int
        GPT-2 sizes.
    vocab_size : int
        BPE vocabulary size (256 bytes + merges + 2 special tokens).
    corpus : list of str, optional
        Sentences the BPE merges are learned from (default: a few built-in ones).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> from transformers import AutoModelForCausalLM
    >>> path = tiny_causal_lm(tempfile.mkdtemp())
    >>> AutoModelForCausalLM.from_pretrained(path).config.n_layer
    2
    """
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    words = list(_WORDS)
    corpus = list(corpus) if corpus is not None else [" ".join(words[i:] + words[:i]) for i in range(len(words))]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=vocab_size, min_frequency=1, special_tokens=["<|endoftext|>", "<pad>"],
                            show_progress=False)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>",
                                  bos_token="<|endoftext|>", unk_token="<|endoftext|>", pad_token="<pad>")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = GPT2Config(vocab_size=len(tok), n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                            n_head=n_head, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                            pad_token_id=tok.pad_token_id)
        model = GPT2LMHeadModel(config)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path

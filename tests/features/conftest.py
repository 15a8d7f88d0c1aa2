"""Tiny models built offline from configs, saved to a temporary folder (nothing downloaded)."""

import pytest

WORDS = (
    "the a cat dog sat on mat why would we ban bottles plastic water yes no because it is good bad "
    "recycle economy people buy million recession hello world answer question please explain more "
    "user assistant eot"
).split()

CHAT_TEMPLATE = (  # plain words, so the whitespace pre-tokenizer keeps each marker one token
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }} {{ m['content'] }} eot {% endfor %}"
    "{% if add_generation_prompt %}assistant {% endif %}"
)


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """One intra-op thread: on a small shared CPU, OpenMP threads waiting on each other make
    tiny forward passes 10-30x slower than a single thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tokenizer(chat_template=None):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<s>", "</s>", "<user>", "<assistant>", "<eot>"]
    vocab = {w: i for i, w in enumerate(specials + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    if chat_template:
        tok.chat_template = chat_template
    return tok


def _save(folder, model, tokenizer):
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    tok = _tokenizer()
    config = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return _save(tmp_path_factory.mktemp("gpt2"), GPT2LMHeadModel(config).eval(), tok)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(1)
    tok = _tokenizer(CHAT_TEMPLATE)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return _save(tmp_path_factory.mktemp("llama"), LlamaForCausalLM(config).eval(), tok)

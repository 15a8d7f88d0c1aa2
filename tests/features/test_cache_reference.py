"""One cache_dir shared by two models: each model's vectors are its own (the cache keys on the model).

The second model is the tiny GPT-2 with perturbed weights: same architecture, tokenizer,
pooling, maximum length and dtype, so only the model's identity tells their vectors apart.
"""

import numpy as np
import pytest

from mixpref.features.sequence_scorer import SequenceScorer
from mixpref.features.text_encoder import TextEncoder

from ._helpers import ForwardCounter

TEXTS = ["the cat sat on the mat", "why would we ban plastic bottles", "the economy is good", "hello world"]


@pytest.fixture(scope="module")
def other_gpt2(tiny_gpt2, tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(tiny_gpt2)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=gen))
    folder = tmp_path_factory.mktemp("gpt2-other")
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_gpt2).save_pretrained(folder)
    return folder


PROMPTS = ["please explain", "is it good", "why", "hello"]
RESPONSES = [" the cat sat", " yes it is good", " because people buy", " world"]


def test_text_encoder_cache_separates_models(tiny_gpt2, other_gpt2, tmp_path):
    first = TextEncoder(tiny_gpt2, cache_dir=tmp_path, progress=False)
    first_values = first.encode(TEXTS)
    assert first.n_encoded_ == len(TEXTS)
    second = TextEncoder(other_gpt2, cache_dir=tmp_path, progress=False).load()
    counter = ForwardCounter(second.model_)
    got = second.encode(TEXTS)
    assert second.n_encoded_ == len(TEXTS) and counter.rows == len(TEXTS)  # re-encoded, nothing reused
    reference = TextEncoder(other_gpt2, cache_dir=None, progress=False).encode(TEXTS)
    np.testing.assert_allclose(got, reference, atol=1e-6)
    assert not np.allclose(got, first_values, atol=1e-3)
    # and each model still finds its own vectors afterwards
    again = TextEncoder(tiny_gpt2, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(again.encode(TEXTS), first_values)
    assert again.n_encoded_ == 0


def test_sequence_scorer_cache_separates_models(tiny_gpt2, other_gpt2, tmp_path):
    first = SequenceScorer(tiny_gpt2, cache_dir=tmp_path, progress=False)
    first_values = first.logprob(PROMPTS, RESPONSES).sum
    second = SequenceScorer(other_gpt2, cache_dir=tmp_path, progress=False).load()
    counter = ForwardCounter(second.model_)
    got = second.logprob(PROMPTS, RESPONSES).sum
    assert counter.rows == len(PROMPTS)  # every pair scored by the second model
    reference = SequenceScorer(other_gpt2, cache_dir=None, progress=False).logprob(PROMPTS, RESPONSES).sum
    np.testing.assert_allclose(got, reference, rtol=1e-6)
    assert not np.allclose(got, first_values, rtol=1e-3)
    third = SequenceScorer(tiny_gpt2, cache_dir=tmp_path, progress=False).load()
    counter = ForwardCounter(third.model_)
    np.testing.assert_array_equal(third.logprob(PROMPTS, RESPONSES).sum, first_values)
    assert counter.calls == 0

"""One cache_dir shared by two models: each model's vectors are its own (the cache keys on the model).

The two tiny models have the same hidden size (32), so a cache that ignored the model's
identity would silently hand the second model the first one's vectors.
"""

import numpy as np

from mixpref.features.sequence_scorer import SequenceScorer
from mixpref.features.text_encoder import TextEncoder

from ._helpers import ForwardCounter

TEXTS = ["the cat sat on the mat", "why would we ban plastic bottles", "the economy is good", "hello world"]
PROMPTS = ["please explain", "is it good", "why", "hello"]
RESPONSES = [" the cat sat", " yes it is good", " because people buy", " world"]


def test_text_encoder_cache_separates_models(tiny_gpt2, tiny_llama, tmp_path):
    first = TextEncoder(tiny_gpt2, cache_dir=tmp_path, progress=False)
    first_values = first.encode(TEXTS)
    assert first.n_encoded_ == len(TEXTS)
    second = TextEncoder(tiny_llama, cache_dir=tmp_path, progress=False).load()
    counter = ForwardCounter(second.model_)
    got = second.encode(TEXTS)
    assert second.n_encoded_ == len(TEXTS) and counter.rows == len(TEXTS)  # re-encoded, nothing reused
    reference = TextEncoder(tiny_llama, cache_dir=None, progress=False).encode(TEXTS)
    np.testing.assert_allclose(got, reference, atol=1e-6)
    assert not np.allclose(got, first_values, atol=1e-3)
    # and each model still finds its own vectors afterwards
    again = TextEncoder(tiny_gpt2, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(again.encode(TEXTS), first_values)
    assert again.n_encoded_ == 0


def test_sequence_scorer_cache_separates_models(tiny_gpt2, tiny_llama, tmp_path):
    first = SequenceScorer(tiny_gpt2, cache_dir=tmp_path, progress=False)
    first_values = first.logprob(PROMPTS, RESPONSES).sum
    second = SequenceScorer(tiny_llama, cache_dir=tmp_path, progress=False).load()
    counter = ForwardCounter(second.model_)
    got = second.logprob(PROMPTS, RESPONSES).sum
    assert counter.rows == len(PROMPTS)  # every pair scored by the second model
    reference = SequenceScorer(tiny_llama, cache_dir=None, progress=False).logprob(PROMPTS, RESPONSES).sum
    np.testing.assert_allclose(got, reference, rtol=1e-6)
    assert not np.allclose(got, first_values, rtol=1e-3)
    third = SequenceScorer(tiny_gpt2, cache_dir=tmp_path, progress=False).load()
    counter = ForwardCounter(third.model_)
    np.testing.assert_array_equal(third.logprob(PROMPTS, RESPONSES).sum, first_values)
    assert counter.calls == 0

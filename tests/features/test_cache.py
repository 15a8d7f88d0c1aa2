import numpy as np
import pytest

from mixpref.features.cache import VectorCache, text_hashes
from mixpref.features.text_encoder import TextEncoder

from ._helpers import ForwardCounter

TEXTS = [f"argument number {i}: plastic bottles are {'bad' if i % 2 else 'fine'}" + " really" * (i % 5) for i in range(14)]


def _encoder(tiny_gpt2, cache_dir, **kwargs):
    """The tiny GPT-2 keeps these tests fast; the cache does not care which model it is."""
    return TextEncoder(tiny_gpt2, cache_dir=cache_dir, progress=False, **kwargs)


def test_second_call_runs_no_forward_pass(tiny_gpt2, tmp_path):
    enc = _encoder(tiny_gpt2, tmp_path).load()
    counter = ForwardCounter(enc.model_)
    first = enc.encode(TEXTS)
    assert counter.calls > 0 and counter.rows == len(TEXTS)
    calls = counter.calls
    again = enc.encode(TEXTS)
    assert counter.calls == calls and enc.n_encoded_ == 0
    np.testing.assert_array_equal(first, again)
    # a fresh encoder on the same cache never even loads the weights
    fresh = _encoder(tiny_gpt2, tmp_path)
    np.testing.assert_array_equal(fresh.encode(TEXTS[::-1]), first[::-1])
    assert getattr(fresh, "model_", None) is None


def test_interrupted_run_leaves_whole_shards_and_resumes(tiny_gpt2, tmp_path):
    reference = _encoder(tiny_gpt2, None).encode(TEXTS)
    enc = _encoder(tiny_gpt2, tmp_path, chunk_size=4, batch_size=4).load()
    counter = ForwardCounter(enc.model_, fail_on=3)  # dies inside the third chunk
    with pytest.raises(KeyboardInterrupt):
        enc.encode(TEXTS)
    cache = VectorCache(tmp_path, enc.cache_key())
    shards = cache.shard_paths()
    assert len(shards) == 2
    assert not [p for p in cache.folder.iterdir() if p.name.endswith(".tmp")]
    found, values, _ = cache.lookup(text_hashes(TEXTS))
    assert found.sum() == 8
    # every stored vector is right (pooled, before normalisation)
    normed = values / np.linalg.norm(values, axis=1, keepdims=True)
    np.testing.assert_allclose(normed, reference[found], atol=1e-6)

    counter.fail_on, counter.rows = None, 0
    resumed = enc.encode(TEXTS)
    assert counter.rows == len(TEXTS) - 8 and enc.n_encoded_ == len(TEXTS) - 8
    np.testing.assert_allclose(resumed, reference, atol=1e-6)
    assert len(cache.shard_paths()) == 4


def test_corrupt_shard_is_ignored_and_re_encoded(tiny_gpt2, tmp_path):
    enc = _encoder(tiny_gpt2, tmp_path, chunk_size=7)
    first = enc.encode(TEXTS)
    shard = VectorCache(tmp_path, enc.cache_key()).shard_paths()[0]
    shard.write_bytes(shard.read_bytes()[:50])  # damage from outside mixpref
    with pytest.warns(UserWarning, match="unreadable shard"):
        again = _encoder(tiny_gpt2, tmp_path, chunk_size=7).encode(TEXTS)
    np.testing.assert_allclose(again, first, atol=1e-6)


def test_key_separates_options_and_weights(tiny_gpt2, tmp_path):
    import shutil

    a = _encoder(tiny_gpt2, tmp_path)
    b = _encoder(tiny_gpt2, tmp_path, max_length=8)
    c = _encoder(tiny_gpt2, tmp_path, pooling="mean")
    copy = tmp_path / "copy"
    shutil.copytree(tiny_gpt2, copy)
    d = _encoder(copy, tmp_path)
    assert a.cache_key() == d.cache_key()  # identity is the weights, not the folder name
    keys = {str(sorted(e.cache_key().items())) for e in (a, b, c)}
    assert len(keys) == 3
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x00\x00\x00")
    assert _encoder(copy, tmp_path).cache_key()["model"] != a.cache_key()["model"]


def test_template_is_part_of_the_cached_text(tiny_gpt2, tmp_path):
    from ._helpers import stand_in

    data = stand_in()
    full = _encoder(tiny_gpt2, tmp_path).encode_data(data)
    only = _encoder(tiny_gpt2, tmp_path, template="response")
    only_feats = only.encode_data(data)
    assert only.n_encoded_ == 4  # different rendered texts: nothing reused
    assert not np.allclose(full.embeddings, only_feats.embeddings)


def test_memory_mapped_reads(tmp_path):
    cache = VectorCache(tmp_path, {"model": "toy"}, np.float32)
    h = text_hashes(["a", "b", "c"])
    cache.write(h, np.arange(6, dtype=np.float32).reshape(3, 2), [0, 2, 0])
    found, values, dropped = cache.lookup(text_hashes(["c", "z", "a"]))
    assert found.tolist() == [True, False, True]
    np.testing.assert_array_equal(values, [[4, 5], [0, 1]])
    assert dropped.tolist() == [0, 0]
    assert isinstance(cache._load_shards()[0], np.memmap)


def test_truncation_is_remembered_by_the_cache(tiny_gpt2, tmp_path):
    first = _encoder(tiny_gpt2, tmp_path, max_length=6)
    with pytest.warns(UserWarning, match="truncated"):
        first.encode(TEXTS)
    hit = _encoder(tiny_gpt2, tmp_path, max_length=6)
    with pytest.warns(UserWarning, match="truncated"):
        hit.encode(TEXTS)
    assert hit.n_encoded_ == 0
    assert hit.truncation_ == first.truncation_ and first.truncation_.n_truncated > 0


def test_public_names():
    import mixpref as mp
    from mixpref.features.sequence_scorer import SequenceScorer

    assert mp.TextEncoder is TextEncoder and mp.SequenceScorer is SequenceScorer

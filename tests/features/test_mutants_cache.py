"""The vector cache and out-of-core features, value by value (written to kill mutmut
survivors; tests/MUTATION.md). Expected values are the vectors written by the test itself."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from mixpref.errors import DataError
from mixpref.features.cache import CachedFeatures, VectorCache, key_hash, text_hashes


def test_text_hashes_are_blake2b_128_of_utf8():
    h = text_hashes(["a", "é", "\ud800"])
    assert h.dtype == np.dtype("S16")
    assert h[0] == hashlib.blake2b(b"a", digest_size=16).digest()
    assert h[1] == hashlib.blake2b("é".encode(), digest_size=16).digest()
    assert h[2] == hashlib.blake2b("\ud800".encode("utf-8", "surrogatepass"), digest_size=16).digest()
    assert len(text_hashes([])) == 0


def test_key_hash_is_sha256_of_sorted_json():
    key = {"b": 1, "a": [1, 2], "p": __file__}
    want = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    assert key_hash(key) == want == key_hash(dict(reversed(list(key.items()))))
    assert key_hash({"x": object}) == hashlib.sha256(json.dumps({"x": str(object)}).encode()).hexdigest()


def _cache(tmp_path, dtype=np.float32):
    return VectorCache(tmp_path, {"model": "toy", "pool": "mean"}, dtype)


def test_folder_manifest_and_shard_name(tmp_path):
    cache = _cache(tmp_path)
    assert cache.key == {"model": "toy", "pool": "mean", "format": 1}
    assert cache.dtype == np.dtype(np.float32)
    assert cache.folder == tmp_path / key_hash({"model": "toy", "pool": "mean", "format": 1})[:32]
    assert cache.shard_paths() == [] and len(cache) == 0
    h = text_hashes(["x", "y"])
    path = cache.write(h, np.arange(6).reshape(2, 3), dropped=[0, 4])
    assert path == cache.folder / f"shard-{hashlib.sha256(h.tobytes()).hexdigest()[:24]}.npy"
    manifest = json.loads((cache.folder / "manifest.json").read_text())
    assert manifest == {"format": 1, "model": "toy", "pool": "mean"}
    assert (cache.folder / "manifest.json").read_text() == json.dumps(cache.key, sort_keys=True, indent=1)
    rec = np.load(path)
    assert rec.dtype.names == ("hash", "value", "dropped") and rec["dropped"].dtype == np.int32
    assert rec["dropped"].tolist() == [0, 4] and rec["value"].dtype == np.float32
    assert cache.shard_paths() == [path]
    (cache.folder / "shard-zz.npy.tmp").write_bytes(b"partial")
    assert cache.shard_paths() == [path]  # temporary files are never listed


def test_lookup_across_shards_in_query_order(tmp_path):
    cache = _cache(tmp_path, np.float64)
    texts = [f"t{i}" for i in range(7)]
    h = text_hashes(texts)
    vals = np.arange(21, dtype=float).reshape(7, 3)
    cache.write(h[:3], vals[:3], dropped=[1, 2, 3])
    cache.write(h[3:6], vals[3:6])
    assert len(cache) == 6
    query = h[[5, 6, 0, 4, 2, 2]]
    found, values, dropped = cache.lookup(query)
    assert found.tolist() == [True, False, True, True, True, True]
    np.testing.assert_array_equal(values, vals[[5, 0, 4, 2, 2]])
    assert values.dtype == np.float64
    assert dropped.tolist() == [0, 1, 0, 3, 3] and dropped.dtype == np.int64
    # a hash beyond every stored one (searchsorted at the end) and an empty query
    top = max(h[:6].tolist())
    beyond = np.array([top[:-1] + bytes([top[-1] + 1]) if top[-1] < 255 else b"\xff" * 16], dtype="S16")
    assert cache.lookup(beyond)[0].tolist() == [False]
    found, values, dropped = cache.lookup(h[:0])
    assert found.tolist() == [] and values is None and dropped.tolist() == []


def test_lookup_on_an_empty_cache(tmp_path):
    found, values, dropped = _cache(tmp_path).lookup(text_hashes(["a", "b"]))
    assert found.tolist() == [False, False] and values is None and len(dropped) == 0 and dropped.dtype == np.int64


def test_write_refuses_mismatched_values(tmp_path):
    cache = _cache(tmp_path)
    with pytest.raises(ValueError, match=r"^cache write: \(3,\) values for 3 hashes$"):
        cache.write(text_hashes(["a", "b", "c"]), np.zeros(3))
    with pytest.raises(ValueError, match=r"^cache write: \(2, 4\) values for 3 hashes$"):
        cache.write(text_hashes(["a", "b", "c"]), np.zeros((2, 4)))
    assert not cache.folder.exists()  # nothing written


def test_unreadable_shards_are_skipped_with_a_warning(tmp_path):
    cache = _cache(tmp_path)
    h = text_hashes(["a", "b"])
    cache.write(h[:1], np.ones((1, 2)))
    bad = cache.folder / "shard-0bad.npy"
    bad.write_bytes(b"not a numpy file")
    wrong = cache.folder / "shard-1wrong.npy"
    np.save(wrong, np.zeros(2, dtype=[("hash", "S16"), ("v", "f4")]))
    fresh = VectorCache(tmp_path, {"model": "toy", "pool": "mean"})
    with pytest.warns(UserWarning) as record:
        found, values, _ = fresh.lookup(h)
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2
    assert messages[0].startswith(f"mixpref cache: ignoring unreadable shard {bad} (")
    assert messages[1] == f"mixpref cache: ignoring unreadable shard {wrong} (unexpected fields ('hash', 'v'))"
    assert found.tolist() == [True, False]
    np.testing.assert_array_equal(values, [[1.0, 1.0]])


def test_shards_are_loaded_once(tmp_path):
    cache = _cache(tmp_path)
    cache.write(text_hashes(["a"]), np.ones((1, 2)))
    first = cache._load_shards()
    assert cache._load_shards()[0] is first[0]


def test_locate_prefers_the_first_shard_and_reads_no_vector(tmp_path):
    cache = _cache(tmp_path)
    h = text_hashes(["a", "b", "c", "d"])
    p1 = cache.write(h[[2, 0]], np.array([[2.0], [0.0]]))
    p2 = cache.write(h[[1, 0]], np.array([[1.0], [9.0]]))
    names = [p.name for p in cache.shard_paths()]
    k1, k2 = names.index(p1.name), names.index(p2.name)
    shard, row, shards = cache.locate(h)
    assert len(shards) == 2
    assert shard[3] == -1 and row[3] == -1
    assert (shard[2], row[2]) == (k1, 0) and (shard[1], row[1]) == (k2, 0)
    # "a" is in both shards: the first shard (in sorted order) wins
    first = min(k1, k2)
    assert shard[0] == first and row[0] == 1  # row 1 in either shard
    assert shard.dtype == np.int64 and row.dtype == np.int64


def _features(tmp_path):
    cache = _cache(tmp_path, np.float16)
    h = text_hashes(["x", "y", "z"])
    cache.write(h[:2], np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    cache.write(h[2:], np.array([[0.0, 0.0, 1.0]]))
    return cache, CachedFeatures(cache, ["r1", "r2", "r3", "r4"], text_hashes(["z", "x", "y", "missing"]))


def test_cached_features_reads_rows_in_place(tmp_path):
    cache, f = _features(tmp_path)
    assert f.dim == 3 and f.n_rows == 4 and len(f) == 4 and f.embeddings is f
    assert f.ids.tolist() == ["r1", "r2", "r3", "r4"] and f.ids.dtype == object
    assert f.nbytes == 4 * 3 * 2
    assert repr(f) == f"CachedFeatures(n_responses=4, dim=3, shards=2, folder={cache.folder})"
    got = f.take_rows([2, 0, 1, 0])
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, [[0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]])
    assert f.positions(["r3", "r1"]).tolist() == [2, 0]
    assert CachedFeatures.logp_ref is None and CachedFeatures.item_names is None


def test_cached_features_errors_name_the_ids(tmp_path):
    cache, f = _features(tmp_path)
    with pytest.raises(DataError) as err:
        f.positions(["r1", "nope", "nope2", "nope"])
    assert str(err.value) == ("features: 2 response id(s) have no features, e.g. ['nope', 'nope2']; "
                              "expected features for every response of the data")
    with pytest.raises(DataError) as err:
        f.positions(["r1", "r4"])
    assert str(err.value) == (
        f"features: 1 response(s) are not in the cache {cache.folder} (e.g. ['r4']): a shard is missing or unreadable, "
        "or they were never encoded; expected every text encoded (rerun the encoder with the same cache_dir: it "
        "encodes only what is missing)")
    with pytest.raises(DataError, match=r"features: 1 response\(s\) are not in the cache .*\['r4'\]"):
        f.take_rows([0, 3])
    with pytest.raises(DataError) as err:
        CachedFeatures(cache, ["a", "b"], text_hashes(["x"]))
    assert str(err.value) == "CachedFeatures: 1 hashes for 2 ids; expected one per id"
    empty = _cache(tmp_path / "empty")
    with pytest.raises(DataError) as err:
        CachedFeatures(empty, ["a"], text_hashes(["x"]))
    assert str(err.value) == f"CachedFeatures: no readable shard in {empty.folder}; expected the encoded vectors there"


def test_align_by_ids_and_by_data(tmp_path):
    _, f = _features(tmp_path)
    a = f.align(["r3", "r1"])
    assert isinstance(a, CachedFeatures) and a.ids.tolist() == ["r3", "r1"] and a.dim == 3 and len(a) == 2
    np.testing.assert_array_equal(a.take_rows([0, 1]), [[0, 1, 0], [0, 0, 1]])

    class Data:
        responses = pd.DataFrame({"response_id": ["r2", "r3"], "text": ["x", "y"]})

    b = f.align(Data())
    assert b.ids.tolist() == ["r2", "r3"]
    np.testing.assert_array_equal(b.take_rows([1, 0]), [[0, 1, 0], [1, 0, 0]])
    with pytest.raises(DataError, match="r4"):
        f.align(["r4"])


def _recorded_memmap(path, values):
    """``values`` saved to ``path`` and mapped back, its mapping replaced by a recorder of ``madvise`` calls."""
    np.save(path, values)
    arr = np.load(path, mmap_mode="r")
    calls = []

    class Recorder:
        def madvise(self, *args):
            calls.append(args)

    arr._mmap = Recorder()
    return arr, calls


def test_release_advises_the_kernel_on_the_mapping_behind_a_view(tmp_path):
    import mmap

    from mixpref.features.cache import release

    path = tmp_path / "a.npy"
    arr, calls = _recorded_memmap(path, np.arange(12.0).reshape(3, 4))
    release(arr[1:][:, 2])  # a view of a view: release walks the .base chain to the memmap
    assert calls == [(mmap.MADV_DONTNEED,)]
    release(np.zeros(3))  # not mapped: nothing to do
    assert len(calls) == 1
    fresh = np.load(path, mmap_mode="r")
    release(fresh)  # the real mapping: pages are dropped, values read back from the file
    np.testing.assert_array_equal(fresh, np.arange(12.0).reshape(3, 4))


def test_release_follows_base_of_a_plain_array_and_take_rows_releases_each_shard(tmp_path, monkeypatch):
    import mmap

    from mixpref.features import cache as C

    arr, calls = _recorded_memmap(tmp_path / "b.npy", np.arange(6.0))
    C.release(np.asarray(arr[1:]))  # a plain ndarray whose base is the memmap
    assert calls == [(mmap.MADV_DONTNEED,)]

    cache, f = _features(tmp_path / "feat")
    seen = []
    monkeypatch.setattr(C, "release", lambda a: seen.append(a))
    f.take_rows([0, 1, 2])
    assert len(seen) == 2 and all(any(s is sh for sh in f.shards) for s in seen)

"""On-disk cache of per-text vectors (embeddings, log-probabilities), sharded and resumable.

Layout: ``<cache_dir>/<key hash>/manifest.json`` describes what the vectors are (model
fingerprint, pooling, max length, dtype...); ``shard-<hash>.npy`` files each hold a block
of entries as one structured array (``hash`` of the exact text, ``value`` vector,
``dropped`` tokens lost to truncation). A shard is written to a temporary file and renamed,
so a reader never sees half a shard and an interrupted run keeps every finished shard.
Shards are read memory-mapped (``np.load(mmap_mode="r")``): a lookup touches only the rows
it needs, and :class:`CachedFeatures` hands the shards to a fit in place (out of core).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import atomic_path
from ..errors import DataError

HASH_BYTES = 16
_HASH_DTYPE = f"S{HASH_BYTES}"
_FORMAT = 1


def text_hashes(texts) -> np.ndarray:
    """BLAKE2b-128 of each string's UTF-8 bytes, as a ``(n,)`` array of 16-byte strings.

    Examples
    --------
    >>> h = text_hashes(["a", "b", "a"])
    >>> h.dtype, bool(h[0] == h[2]), bool(h[0] == h[1])
    (dtype('S16'), True, False)
    """
    out = np.empty(len(texts), dtype=_HASH_DTYPE)
    for i, text in enumerate(texts):
        # surrogatepass: any Python str hashes, even one with lone surrogates
        out[i] = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=HASH_BYTES).digest()
    return out


def key_hash(key: dict) -> str:
    """A stable hex digest of a JSON-serialisable key."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


class VectorCache:
    """Vectors of fixed dimension and dtype for texts, stored under one key.

    Parameters
    ----------
    root : path
        The cache folder (shared by all keys).
    key : dict
        What the vectors are; every field that changes a vector belongs here.
    dtype : numpy dtype
        Storage dtype of the vectors.

    Examples
    --------
    >>> import tempfile
    >>> cache = VectorCache(tempfile.mkdtemp(), {"model": "toy"}, np.float32)
    >>> h = text_hashes(["x", "y"])
    >>> _ = cache.write(h[:1], np.ones((1, 3), np.float32))
    >>> found, values, dropped = cache.lookup(h)
    >>> found.tolist(), values.shape
    ([True, False], (1, 3))
    """

    def __init__(self, root, key: dict, dtype=np.float32):
        self.root = Path(root)
        self.key = dict(key, format=_FORMAT)
        self.dtype = np.dtype(dtype)
        self.folder = self.root / key_hash(self.key)[:32]
        self._shards: dict[str, np.ndarray] = {}

    def _ensure_manifest(self):
        manifest = self.folder / "manifest.json"
        if not manifest.is_file():
            with atomic_path(manifest) as tmp:
                tmp.write_text(json.dumps(self.key, sort_keys=True, indent=1, default=str))

    def shard_paths(self) -> list[Path]:
        """Finished shards (temporary files of an interrupted write are never listed)."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("shard-*.npy"))

    def _load_shards(self) -> list[np.ndarray]:
        shards = []
        for path in self.shard_paths():
            if path.name not in self._shards:
                try:
                    array = np.load(path, mmap_mode="r")
                    if array.dtype.names != ("hash", "value", "dropped"):
                        raise ValueError(f"unexpected fields {array.dtype.names}")
                except (OSError, ValueError) as err:
                    # shards are renamed into place whole, so this is damage from outside
                    warnings.warn(f"mixpref cache: ignoring unreadable shard {path} ({err})", stacklevel=3)
                    continue
                self._shards[path.name] = array
            shards.append(self._shards[path.name])
        return shards

    def lookup(self, hashes: np.ndarray):
        """Find ``hashes`` in the cache.

        Returns
        -------
        found : (n,) bool
        values : (found.sum(), d) array, rows in the order of ``hashes[found]``
        dropped : (found.sum(),) int64, tokens each text lost to truncation when encoded
        """
        hashes = np.asarray(hashes, dtype=_HASH_DTYPE)
        shards = self._load_shards()
        found = np.zeros(len(hashes), dtype=bool)
        if not shards or len(hashes) == 0:
            return found, None, np.zeros(0, np.int64)
        all_hashes = np.concatenate([np.asarray(s["hash"]) for s in shards])
        shard_of = np.concatenate([np.full(len(s), k, dtype=np.int64) for k, s in enumerate(shards)])
        row_of = np.concatenate([np.arange(len(s), dtype=np.int64) for s in shards])
        order = np.argsort(all_hashes, kind="stable")
        sorted_hashes = all_hashes[order]
        pos = np.searchsorted(sorted_hashes, hashes)
        pos_clipped = np.minimum(pos, len(sorted_hashes) - 1)
        found = (pos < len(sorted_hashes)) & (sorted_hashes[pos_clipped] == hashes)
        hit = order[pos_clipped[found]]
        hit_shard, hit_row = shard_of[hit], row_of[hit]
        dim = shards[0]["value"].shape[1]
        values = np.empty((len(hit), dim), dtype=self.dtype)
        dropped = np.empty(len(hit), dtype=np.int64)
        for k in np.unique(hit_shard):
            sel = np.flatnonzero(hit_shard == k)
            rows = hit_row[sel]
            # fancy indexing a memmap reads only the pages of these rows
            values[sel] = shards[k]["value"][rows]
            dropped[sel] = shards[k]["dropped"][rows]
        return found, values, dropped

    def write(self, hashes, values, dropped=None) -> Path:
        """Write one shard atomically and return its path."""
        hashes = np.asarray(hashes, dtype=_HASH_DTYPE)
        values = np.asarray(values, dtype=self.dtype)
        if values.ndim != 2 or values.shape[0] != len(hashes):
            raise ValueError(f"cache write: {values.shape} values for {len(hashes)} hashes")
        self._ensure_manifest()
        record = np.empty(
            len(hashes), dtype=[("hash", _HASH_DTYPE), ("value", self.dtype, (values.shape[1],)), ("dropped", np.int32)]
        )
        record["hash"] = hashes
        record["value"] = values
        record["dropped"] = 0 if dropped is None else np.asarray(dropped)
        name = hashlib.sha256(hashes.tobytes()).hexdigest()[:24]
        target = self.folder / f"shard-{name}.npy"
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, record, allow_pickle=False)
        return target

    def __len__(self):
        return sum(len(s) for s in self._load_shards())

    def locate(self, hashes):
        """``(shard, row)`` of each hash (-1, -1 when absent) without reading any vector; and the shards."""
        hashes = np.asarray(hashes, dtype=_HASH_DTYPE)
        shards = self._load_shards()
        shard_of = np.full(len(hashes), -1, dtype=np.int64)
        row_of = np.full(len(hashes), -1, dtype=np.int64)
        for k, shard in enumerate(shards):
            keys = np.asarray(shard["hash"])
            order = np.argsort(keys, kind="stable")
            pos = np.searchsorted(keys[order], hashes)
            clipped = np.minimum(pos, len(keys) - 1)
            hit = (pos < len(keys)) & (keys[order][clipped] == hashes) & (shard_of < 0)
            shard_of[hit], row_of[hit] = k, order[clipped[hit]]
            release(shard)  # the hash column is interleaved with the vectors: every page was read
        return shard_of, row_of, shards


def release(array):
    """Drop the resident pages of a memory-mapped array (they stay in the page cache, out of this process's RSS).

    Reading rows of a mapped shard maps its pages into the process; a fit that streams all
    its features would otherwise end up holding every page it ever read.
    """
    base = array
    while base is not None and not isinstance(base, np.memmap):
        base = getattr(base, "base", None)
    handle = getattr(base, "_mmap", None)
    if handle is not None and hasattr(mmap, "MADV_DONTNEED"):
        handle.madvise(mmap.MADV_DONTNEED)


class CachedFeatures:
    """Response features read in place from a :class:`VectorCache`'s memory-mapped shards (out of core).

    Quacks like :class:`mixpref.Features` for fitting: ``ids``, ``dim``, ``positions``,
    ``align`` and ``embeddings`` (this object: ``take_rows(rows)`` reads only those rows).
    A fit streams blocks of rows from the shards when its design matrix exceeds
    ``memory_budget``; nothing is loaded up front. A response whose text is not in the
    cache (never encoded, or its shard is missing or unreadable) is a :class:`DataError`
    the first time its features are asked for.

    Examples
    --------
    >>> import tempfile
    >>> cache = VectorCache(tempfile.mkdtemp(), {"model": "toy"}, np.float16)
    >>> _ = cache.write(text_hashes(["x", "y"]), np.eye(2, 3))
    >>> f = CachedFeatures(cache, ["r1", "r2"], text_hashes(["y", "x"]))
    >>> f.take_rows(np.array([0, 1])).tolist(), f.dim
    ([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], 3)
    """

    logp_ref = None
    item_names = None

    def __init__(self, cache: VectorCache, ids, hashes, *, _located=None):
        self.cache = cache
        self.ids = pd.Index(list(ids), dtype=object)
        if len(self.ids) != len(hashes):
            raise DataError(f"CachedFeatures: {len(hashes)} hashes for {len(self.ids)} ids; expected one per id")
        self.shard_of, self.row_of, self.shards = _located if _located is not None else cache.locate(hashes)
        if not self.shards:
            raise DataError(f"CachedFeatures: no readable shard in {cache.folder}; expected the encoded vectors there")
        self.dim = int(self.shards[0]["value"].shape[1])
        self.n_rows = len(self.ids)
        self.embeddings = self

    def __len__(self):
        return self.n_rows

    def __repr__(self):
        return f"CachedFeatures(n_responses={self.n_rows}, dim={self.dim}, shards={len(self.shards)}, folder={self.cache.folder})"

    @property
    def nbytes(self) -> int:
        return self.n_rows * self.dim * self.shards[0]["value"].dtype.itemsize

    def positions(self, ids) -> np.ndarray:
        """Row positions of ``ids``; a missing id, or one whose vector is not in the cache, is a DataError."""
        ids = pd.Index(list(ids))
        pos = self.ids.get_indexer(ids)
        if (pos < 0).any():
            names = ids[pos < 0].unique()
            raise DataError(f"features: {len(names)} response id(s) have no features, e.g. {names[:5].tolist()}; "
                            "expected features for every response of the data")
        absent = self.shard_of[pos] < 0
        if absent.any():
            raise DataError(
                f"features: {int(absent.sum()):,} response(s) are not in the cache {self.cache.folder} (e.g. "
                f"{ids[absent][:5].tolist()}): a shard is missing or unreadable, or they were never encoded; expected "
                "every text encoded (rerun the encoder with the same cache_dir: it encodes only what is missing)")
        return pos

    def align(self, ids_or_data) -> "CachedFeatures":
        responses = getattr(ids_or_data, "responses", None)
        ids = responses["response_id"].tolist() if responses is not None else list(ids_or_data)
        pos = self.positions(ids)
        return CachedFeatures(self.cache, ids, np.zeros(len(ids), _HASH_DTYPE),
                              _located=(self.shard_of[pos], self.row_of[pos], self.shards))

    def take_rows(self, rows) -> np.ndarray:
        """The vectors of rows ``rows`` (in the cache's dtype), reading only their pages of each shard."""
        rows = np.asarray(rows, dtype=np.int64)
        shard, row = self.shard_of[rows], self.row_of[rows]
        if (shard < 0).any():
            self.positions(self.ids[rows[shard < 0]])  # raises, naming them
        out = np.empty((len(rows), self.dim), dtype=self.shards[0]["value"].dtype)
        for k in np.unique(shard):
            sel = np.flatnonzero(shard == k)
            out[sel] = self.shards[k]["value"][row[sel]]
            release(self.shards[k])
        return out

"""On-disk cache of per-text vectors (embeddings, log-probabilities), sharded and resumable.

Layout: ``<cache_dir>/<key hash>/manifest.json`` describes what the vectors are (model
fingerprint, pooling, max length, dtype...); ``shard-<hash>.npy`` files each hold a block
of entries as one structured array (``hash`` of the exact text, ``value`` vector,
``dropped`` tokens lost to truncation). A shard is written to a temporary file and renamed,
so a reader never sees half a shard and an interrupted run keeps every finished shard.
Shards are read memory-mapped (``np.load(mmap_mode="r")``): a lookup touches only the rows
it needs.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from .._io import atomic_path

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

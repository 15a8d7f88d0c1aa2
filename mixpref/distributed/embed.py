"""Distributed encoding: each rank encodes a disjoint share of the texts into the shared cache.

Ranks own texts by hash (``TextEncoder.fill_cache``), so no text is encoded twice and an
interrupted run resumes from the finished shards; shards are written atomically. Rank 0
then assembles the features from the cache (every text a hit) and writes them.
"""

from __future__ import annotations

import hashlib


def embed_sharded(data, out, comm, *, model="minilm", template="{prompt}\n\n{response}", max_length=None,
                  device="cpu", cache_dir=None):
    """Fill the cache from every rank, then write the features of ``data`` to ``out`` on rank 0.

    Returns ``(features, stats)``: the Features on rank 0 (None elsewhere) and
    ``{"encoded_per_rank": [...]}``.
    """
    from ..errors import DataError
    from ..features.cache import text_hashes
    from ..features.text_encoder import TextEncoder, render_texts

    if cache_dir is None:
        raise DataError("--cache-dir: distributed encoding needs a cache folder every rank can write to")
    enc = TextEncoder(model, template=template, max_length=max_length, device=device, cache_dir=cache_dir,
                      progress=False)
    texts = comm.agree(lambda: render_texts(data, template), "rendering the texts")
    digest = hashlib.blake2b(text_hashes(texts).tobytes(), digest_size=16).hexdigest()
    comm.check_same(f"{len(texts)} texts, digest {digest}", "texts")
    encoded = comm.agree(lambda: enc.fill_cache(texts, comm.rank, comm.world_size), "encoding")
    per_rank = comm.all_gather_object(encoded)
    features = None
    if comm.rank == 0:
        features = enc.encode_data(data)
        if enc.n_encoded_:
            raise DataError(f"distributed encoding: {enc.n_encoded_} texts were missing from the cache after every "
                            "rank finished; expected none (is --cache-dir on a filesystem all ranks share?)")
        features.save(out)
    comm.barrier()
    return features, {"encoded_per_rank": per_rank}

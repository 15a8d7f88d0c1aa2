"""Benchmark: MiniLM text encoding throughput, end to end (strings in, normalised embeddings out).

Measures, in one run and on the same device:

- ``mixpref.TextEncoder`` with length-sorted batches (the default);
- the same encoder with fixed-size batches in input order (no sorting);
- a cold run that writes the cache, and a cache hit (a fresh encoder, same cache folder);
- optionally sentence-transformers' ``encode`` (the baseline the issue measured).

Texts: the UKPConvArg1 argument texts (``data/ukpconvarg1/ukpconvarg1_arguments.csv``),
de-duplicated and replicated to ``--n-texts`` with a copy number appended (so that all
texts are distinct; the encoder would otherwise encode each identical text once).

Usage::

    python studies/benchmarks/embed.py --n-texts 1543 --device cpu
    python studies/benchmarks/embed.py --n-texts 100000 --device cuda --sentence-transformers
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UKP = ROOT / "data" / "ukpconvarg1" / "ukpconvarg1_arguments.csv"


def load_texts(n_texts):
    import pandas as pd

    # distinct texts only: the encoder encodes each distinct text once, a baseline would not
    base = pd.read_csv(UKP)["text"].astype(str).drop_duplicates().tolist()
    if n_texts is None or n_texts <= len(base):
        return base[: n_texts or len(base)]
    return [base[i % len(base)] + ("" if i < len(base) else f" ({i // len(base)})") for i in range(n_texts)]


def _sync(device):
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device, repeat=1):
    """Fastest of ``repeat`` runs (a shared machine adds noise, never speed)."""
    best, out = float("inf"), None
    for _ in range(max(1, repeat)):
        _sync(device)
        start = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-texts", type=int, default=None, help="texts to encode (default: all distinct UKP argument texts)")
    parser.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda'")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--fixed-batch-size", type=int, default=None, help="rows per unsorted batch (default 32 CPU, 256 GPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--sentence-transformers", action="store_true", help="also time sentence-transformers encode")
    parser.add_argument("--repeat", type=int, default=1, help="time each encoding run this often, keep the fastest")
    parser.add_argument("--skip-fixed", action="store_true", help="skip the unsorted fixed-batch run")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from mixpref._device import resolve_device
    from mixpref.features.model_source import resolve_model_path
    from mixpref.features.text_encoder import TextEncoder

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    texts = load_texts(args.n_texts)
    encoder = TextEncoder(args.model, device=str(device), progress=False).load()
    r = encoder._resolve()
    n_tokens = sum(len(ids) for ids in r["tokenizer"](texts, truncation=True, max_length=r["max_length"])["input_ids"])
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
          f"dtype {r['dtype']}, {len(texts)} texts, {n_tokens} tokens (max_length {r['max_length']})")
    encoder.encode(texts[:64])  # warm-up: kernels, allocator
    rows = []

    seconds, sorted_emb = timed(lambda: encoder.encode(texts), device, args.repeat)
    rows.append(("mixpref, length-sorted batches (auto)", seconds))

    if not args.skip_fixed:
        fixed = args.fixed_batch_size or (256 if device.type == "cuda" else 32)
        encoder.batch_size, encoder.sort_by_length = fixed, False
        seconds, fixed_emb = timed(lambda: encoder.encode(texts), device, args.repeat)
        encoder.batch_size, encoder.sort_by_length = "auto", True
        rows.append((f"mixpref, fixed unsorted batches of {fixed}", seconds))
        print(f"max |sorted - unsorted| = {np.abs(sorted_emb - fixed_emb).max():.2e}")

    with tempfile.TemporaryDirectory() as cache_dir:
        cold = TextEncoder(args.model, device=str(device), cache_dir=cache_dir, progress=False)
        seconds, _ = timed(lambda: cold.encode(texts), device)
        rows.append(("mixpref, cold run writing the cache (incl. model load)", seconds))
        hit = TextEncoder(args.model, device=str(device), cache_dir=cache_dir, progress=False)
        seconds, hit_emb = timed(lambda: hit.encode(texts), device)
        rows.append(("mixpref, cache hit (fresh encoder, weights never loaded)", seconds))
        assert hit.n_encoded_ == 0 and getattr(hit, "model_", None) is None
        print(f"max |cached - computed| = {np.abs(hit_emb - sorted_emb).max():.2e}")

    if args.sentence_transformers:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(resolve_model_path(args.model)), device=str(device))
        if device.type == "cuda":
            st = st.half()
        st.encode(texts[:64])
        seconds, st_emb = timed(lambda: st.encode(texts, batch_size=32, normalize_embeddings=True), device, args.repeat)
        rows.append((f"sentence-transformers encode (batch 32{', fp16' if device.type == 'cuda' else ''})", seconds))
        cos = (sorted_emb * st_emb).sum(1)
        print(f"min cosine(mixpref, sentence-transformers) = {cos.min():.6f}")

    print(f"\n{'run':60s} {'seconds':>9s} {'tokens/s':>12s}")
    for name, seconds in rows:
        print(f"{name:60s} {seconds:9.3f} {n_tokens / seconds:12,.0f}")
    base = dict(rows)
    sorted_s = base["mixpref, length-sorted batches (auto)"]
    for name, seconds in rows[1:]:
        if "cache hit" in name:
            print(f"cache hit is {sorted_s / seconds:.1f}x faster than encoding")
        elif "cold" not in name:
            print(f"length-sorted vs {name}: {seconds / sorted_s:.2f}x")
    return rows


if __name__ == "__main__":
    main()

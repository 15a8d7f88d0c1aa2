"""Scale benchmarks: peak memory of a fit in core, a fit out of core from the cache, distributed speed.

Data: fresh responses (every comparison with two new responses, as ``fresh_data.py``),
written once by ``generate`` to a folder (observations in ``data.npz``; features either a
float32 ``features.npy`` or float16 shards of the mixpref cache), so that each measurement
runs in a fresh process that only reads them.

* ``memory``: peak RSS of a whole ``MixtureBT`` fit with data and float32 features loaded
  (target: <= features + 1 GB), with the default ``memory_budget`` and ``design_cache`` or
  ``--fit-budget`` / ``--design-cache`` (either below the difference matrix keeps part of it
  resident and streams the rest; ``--design-cache none`` keeps all of it, the old default);
* ``ooc``: the same fit with the features left in the cache's memory-mapped float16 shards
  and ``memory_budget`` (default 256 MB): peak RSS against budget + process baseline, and
  the objective against the in-memory fit on the same values (target: relative <= 1e-5);
* ``dist``: wall time of 1 rank x 1 thread against P ranks x 1 thread (gloo), with the
  share of the time spent in all-reduce.

Usage::

    python studies/benchmarks/scale.py generate --folder /tmp/f400k --n 400000 --layout npy
    python studies/benchmarks/scale.py memory --folder /tmp/f400k [--fit-budget 0.5e9] [--design-cache none]
    python studies/benchmarks/scale.py generate --folder /tmp/f1m --n 1000000 --layout cache
    python studies/benchmarks/scale.py ooc --folder /tmp/f1m --budget 256e6 --compare
    python studies/benchmarks/scale.py dist --folder /tmp/f1m --ranks 2
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

KEY = {"kind": "benchmark-fresh-responses"}


def status_gb(field):
    """VmRSS / VmHWM of this process in GB of 10^9 bytes (Linux), the unit of the features' size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / 1e9  # /proc reports KiB
    return float("nan")


def reset_peak():
    # writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS
    Path("/proc/self/clear_refs").write_text("5")


def generate(folder, n, dim=384, n_annotators=None, n_types=3, logit_sd=1.16, seed=0, layout="cache"):
    """Write ``n`` fresh-response comparisons and their ``2 n`` embeddings to ``folder``, block by block."""
    from mixpref.features.cache import VectorCache, text_hashes

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_annotators = n_annotators or max(1, n // 100)
    rng = np.random.default_rng(seed)
    weights = {2: [0.6, 0.4], 3: [0.5, 0.3, 0.2]}.get(n_types, np.full(n_types, 1.0 / n_types))
    types = rng.choice(n_types, size=n_annotators, p=weights)
    v = rng.standard_normal((n_types, dim))
    v = v / np.linalg.norm(v, axis=1, keepdims=True) * logit_sd * np.sqrt(dim / 2.0)
    annotator = rng.integers(0, n_annotators, size=n)
    y = np.empty(n)
    block = 65536  # comparisons per block (2 x responses)
    if layout == "npy":
        store = np.lib.format.open_memmap(folder / "features.npy", mode="w+", dtype=np.float32, shape=(2 * n, dim))
    else:
        cache = VectorCache(folder / "cache", KEY, np.float16)
    for start in range(0, n, block):
        m = min(block, n - start)
        x = rng.standard_normal((2 * m, dim))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x = x.astype(np.float16 if layout == "cache" else np.float32)
        diff = x[0::2].astype(np.float64) - x[1::2]
        logit = np.einsum("nd,nd->n", diff, v[types[annotator[start:start + m]]])
        y[start:start + m] = rng.random(m) < 1.0 / (1.0 + np.exp(-logit))
        if layout == "npy":
            store[2 * start: 2 * (start + m)] = x
        else:
            cache.write(text_hashes([str(i) for i in range(2 * start, 2 * (start + m))]), x)
    if layout == "npy":
        store.flush()
    np.savez(folder / "data.npz", annotator=annotator, y=y, types=types, n=n, dim=dim, layout=layout)
    return folder


def load(folder, features="auto"):
    """``(data, features)`` from ``folder``: features in memory (float32), memory-mapped, or the cache object."""
    import pandas as pd

    import mixpref as mp
    from mixpref.data.arrays import ComparisonArrays
    from mixpref.features.cache import CachedFeatures, VectorCache, text_hashes

    folder = Path(folder)
    z = np.load(folder / "data.npz")
    n = int(z["n"])
    layout = str(z["layout"])
    a = np.arange(0, 2 * n, 2, dtype=np.int64)
    prompt = np.arange(n, dtype=np.int64)
    data = mp.PreferenceData(pd.DataFrame({"prompt_id": prompt, "text": None}),
                             pd.DataFrame({"response_id": np.arange(2 * n), "prompt_id": np.repeat(prompt, 2),
                                           "text": None}),
                             pd.Index(np.arange(len(z["types"]))), ComparisonArrays(prompt, a, a + 1, z["y"], z["annotator"]))
    ids = np.arange(2 * n)
    if layout == "npy":
        emb = np.load(folder / "features.npy", mmap_mode="r" if features == "mmap" else None)
        feats = mp.Features.__new__(mp.Features)  # the constructor's float32 copy and checks are not what is measured
        feats.ids, feats.embeddings, feats.logp_ref, feats.item_names = pd.Index(ids), emb, None, None
        return data, feats
    cached = CachedFeatures(VectorCache(folder / "cache", KEY, np.float16), ids, text_hashes([str(i) for i in ids]))
    if features == "memory":  # the same float16 values, as float32 in memory
        feats = mp.Features.__new__(mp.Features)
        feats.ids, feats.embeddings, feats.logp_ref, feats.item_names = (
            pd.Index(ids), cached.take_rows(np.arange(2 * n)).astype(np.float32), None, None)
        return data, feats
    return data, cached


def fit_measured(data, feats, **options):
    import torch

    import mixpref as mp

    torch.set_num_threads(1)
    # warm-up: torch's and scipy's one-time set-up (thread pools, lazy imports) belong to the process, not the fit
    small = mp.synthetic.population(n_types=2, dim=8, n_annotators=10, comparisons_per_annotator=10, random_state=0)
    mp.MixtureBT(n_types=2, n_restarts=1).fit(small.data, small.features)
    before = status_gb("VmRSS")
    reset_peak()
    t = time.perf_counter()
    m = mp.MixtureBT(n_types=3, **options).fit(data, feats)
    return m, {"seconds": time.perf_counter() - t, "rss_before_gb": before, "peak_gb": status_gb("VmHWM"),
               "objective": m.objective_, "weights": m.weights_.round(3).tolist()}


def cmd_memory(args):
    data, feats = load(args.folder, "memory")
    size = feats.embeddings.nbytes / 1e9
    options = {} if args.fit_budget is None else {"memory_budget": args.fit_budget}
    if args.design_cache is not None:
        given = args.design_cache.lower()
        options["design_cache"] = None if given == "none" else given if given == "auto" else float(given)
    m, r = fit_measured(data, feats, **options)
    r.update(features_gb=size, target_gb=size + 1.0, memory_budget=args.fit_budget,
             design_cache=options.get("design_cache", "default"))
    budget = "default memory_budget" if args.fit_budget is None else f"memory_budget {args.fit_budget / 1e9:.2f} GB"
    budget += f", design_cache {options.get('design_cache', 'default')}"
    print(f"in core ({budget}): features {size:.3f} GB float32; RSS before the fit {r['rss_before_gb']:.3f} GB; "
          f"peak during the fit {r['peak_gb']:.3f} GB (target <= features + 1 GB = {size + 1:.3f} GB); "
          f"{r['seconds']:.1f} s; objective {r['objective']:.8f}", flush=True)
    return r


def cmd_ooc(args):
    data, feats = load(args.folder, "cache")
    import torch  # noqa: F401  (imports are part of the baseline, not of the fit)

    import mixpref.models.mixture  # noqa: F401

    m, r = fit_measured(data, feats, memory_budget=args.budget)
    size = feats.nbytes / 1e9
    r.update(features_gb=size, budget_gb=args.budget / 1e9,
             target_gb=r["rss_before_gb"] + args.budget / 1e9 + 0.3)
    print(f"out of core: features {size:.2f} GB float16 in {len(feats.shards)} cache shards; memory_budget "
          f"{args.budget / 1e6:.0f} MB; process baseline (data loaded) {r['rss_before_gb']:.2f} GB; peak during the "
          f"fit {r['peak_gb']:.2f} GB (target <= baseline + budget + 0.3 GB = {r['target_gb']:.2f} GB); "
          f"{r['seconds']:.1f} s; objective {r['objective']:.8f}", flush=True)
    if args.compare:
        del feats
        data, feats = load(args.folder, "memory")
        m2, r2 = fit_measured(data, feats)
        rel = abs(r2["objective"] - r["objective"]) / abs(r2["objective"])
        r.update(in_memory_objective=r2["objective"], relative_difference=rel, in_memory_seconds=r2["seconds"])
        print(f"in memory, same values: objective {r2['objective']:.8f}, relative difference {rel:.2e} (target <= 1e-5); "
              f"{r2['seconds']:.1f} s", flush=True)
    return r


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dist_worker(rank, world, port, folder, out, budget, device="cpu"):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    import torch
    import torch.distributed as dist

    import mixpref as mp
    from mixpref.distributed import Comm, fit

    torch.set_num_threads(1)
    if device == "cuda":
        torch.cuda.set_device(rank)
    dist.init_process_group("nccl" if device == "cuda" else "gloo", rank=rank, world_size=world)
    data, feats = load(folder, "cache")
    comm = Comm()
    spent = [0.0]
    inner = comm.sum_tensor

    def timed(tensor):
        t = time.perf_counter()
        try:
            return inner(tensor)
        finally:
            spent[0] += time.perf_counter() - t

    comm.sum_tensor = timed
    comm.barrier()
    t = time.perf_counter()
    dev = f"cuda:{rank}" if device == "cuda" else "cpu"
    # design_cache=None: the whole difference matrix resident, as when this benchmark was measured
    m = fit(mp.MixtureBT(n_types=3, memory_budget=budget, design_cache=None, device=dev), data, feats, comm=comm)
    wall = time.perf_counter() - t
    walls = comm.all_gather_object((wall, spent[0]))
    if rank == 0:
        from mixpref._io import write_json

        write_json({"world": world, "walls": walls, "objective": m.objective_,
                    "per_rank": m.distributed_["observations_per_rank"]}, out, indent=None)
    dist.destroy_process_group()


def cmd_dist(args):
    results = {}
    for world in (1, args.ranks):
        out = Path(args.folder) / f"dist-{world}.json"
        port = _free_port()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        procs = [subprocess.Popen([sys.executable, __file__, "_worker", str(r), str(world), str(port), str(args.folder),
                                   str(out), str(args.budget), args.device], env=env) for r in range(world)]
        for p in procs:
            p.wait()
        results[world] = json.loads(out.read_text())
        walls = results[world]["walls"]
        wall = max(w for w, _ in walls)
        share = max(c for _, c in walls) / wall
        results[world].update(wall=wall, comm_share=share)
        print(f"{world} rank(s) x 1 {'GPU' if args.device == 'cuda' else 'thread'}: {wall:.1f} s (all-reduce {100 * share:.1f}% of it); objective "
              f"{results[world]['objective']:.8f}; observations per rank {results[world]['per_rank']}", flush=True)
    one, many = results[1], results[args.ranks]
    print(f"wall time {args.ranks} ranks / 1 rank: {many['wall'] / one['wall']:.2f}; objectives differ by "
          f"{abs(many['objective'] - one['objective']) / abs(one['objective']):.1e} (relative)")
    return results


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_worker":
        r, w, port, folder, out, budget, device = argv[1:]
        return dist_worker(int(r), int(w), int(port), folder, out, float(budget), device)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["generate", "memory", "ooc", "dist"])
    p.add_argument("--folder", required=True)
    p.add_argument("--n", type=int, default=400_000, help="comparisons (generate)")
    p.add_argument("--annotators", type=int, default=None)
    p.add_argument("--layout", choices=["npy", "cache"], default="cache")
    p.add_argument("--budget", type=float, default=256e6, help="memory_budget in bytes (ooc, dist)")
    p.add_argument("--fit-budget", type=float, default=None, help="memory: the fit's memory_budget (default: the model's)")
    p.add_argument("--design-cache", default=None,
                   help="memory: the fit's design_cache in bytes, 'none' for no limit or 'auto' (default: the model's)")
    p.add_argument("--compare", action="store_true", help="ooc: also fit in memory and compare objectives")
    p.add_argument("--ranks", type=int, default=2, help="dist: ranks to compare with one (0: every visible GPU)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="dist: gloo on CPU or NCCL, one GPU per rank")
    p.add_argument("--generate-n", type=int, default=0, help="dist/ooc/memory: generate this many comparisons first "
                                                            "(cache layout) when the folder has no data")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.command == "generate":
        t = time.perf_counter()
        generate(args.folder, args.n, n_annotators=args.annotators, layout=args.layout)
        print(f"wrote {args.folder} in {time.perf_counter() - t:.1f} s")
        return None
    if args.generate_n and not (Path(args.folder) / "data.npz").exists():
        t = time.perf_counter()
        generate(args.folder, args.generate_n, layout="npy" if args.command == "memory" else "cache")
        print(f"generated {args.generate_n} comparisons in {time.perf_counter() - t:.1f} s", flush=True)
    if args.command == "dist" and args.ranks == 0:
        import torch

        args.ranks = torch.cuda.device_count()
    result = {"memory": cmd_memory, "ooc": cmd_ooc, "dist": cmd_dist}[args.command](args)
    if args.json:
        from mixpref._io import write_json

        write_json(result, args.json)
    return result


if __name__ == "__main__":
    main()

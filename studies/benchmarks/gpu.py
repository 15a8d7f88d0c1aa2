"""Every GPU check of the benchmarks in one call, for a session lent an H100/H200.

Runs, each as its own process so one failure does not stop the others:

* ``fit.py``: mixture MAP fit, N = 1,000,000 comparisons, d = 384, 10,000 annotators,
  K = 4, against the hand-written torch loop and Pyro (target: 300 steps under 1.0 s);
* ``aggregate.py``: maximal lotteries for 100,000 prompts x 8 candidates by self-play
  against per-prompt ``linprog`` on a sample (target: under 0.3 s at exploitability <= 1e-3);
* ``embed.py``: MiniLM end to end on about 100,000 UKPConvArg1 texts (target: >= 4M tokens/s);
* ``fit.py --shape fresh``: fresh responses (two new ones per comparison), N = 1,000,000,
  d = 384, 10,000 annotators, K = 3: ``MixtureBT`` default against one-start soft EM (target:
  <= 0.5x at equal held-out LL);
* ``scale.py dist`` (only when more than one GPU is visible): the same fit sharded over every
  GPU (NCCL, one rank per GPU) against one GPU, N = 1,000,000 fresh responses from the cache.

Each log goes to ``--out`` (``$OUT`` on the device machine); the last lines of each are
printed last, as a short table. Device use: pyro-ppl is not on the device image, so carry
it as wheels (see the device tool's README) and put them on PYTHONPATH first.

Run: ``python studies/benchmarks/gpu.py --out "$OUT"`` (``--plan`` prints the commands).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHECKS = {
    "fit": ["fit.py", "--n", "1000000", "--annotators", "10000", "--types", "4", "--device", "cuda",
            "--adam-steps", "300"],
    "aggregate": ["aggregate.py", "--prompts", "100000", "--candidates", "8", "--device", "cuda",
                  "--lp-sample", "1000", "--no-block-lp"],
    "embed": ["embed.py", "--n-texts", "100000", "--device", "cuda", "--sentence-transformers"],
    "fit_fresh": ["fit.py", "--shape", "fresh", "--n", "1000000", "--annotators", "10000", "--device", "cuda",
                  "--em-starts", "1"],
    "dist_fit": ["scale.py", "dist", "--folder", "/tmp/mixpref-gpu-dist-data", "--generate-n", "1000000", "--ranks", "0",
                 "--device", "cuda", "--budget", "4e9"],
}
# checks that need more than one GPU, and per-check time limits (seconds) above --timeout
MULTI_GPU = {"dist_fit"}
TIMEOUTS = {"fit_fresh": 300, "dist_fit": 300}


def gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001: no torch or no driver: no GPU
        return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "gpu-results"))
    parser.add_argument("--only", default="", help="comma-separated subset of " + ", ".join(CHECKS))
    parser.add_argument("--timeout", type=int, default=170, help="seconds per check")
    parser.add_argument("--plan", action="store_true", help="print the commands and exit")
    args = parser.parse_args(argv)
    names = [n for n in (args.only.split(",") if args.only else CHECKS) if n]
    unknown = sorted(set(names) - set(CHECKS))
    if unknown:
        parser.error(f"unknown check(s) {unknown}; expected some of {list(CHECKS)}")
    out = Path(args.out)
    summary = []
    for name in names:
        command = [sys.executable, str(HERE / CHECKS[name][0]), *[a.format(out=out) for a in CHECKS[name][1:]]]
        if args.plan:
            print(" ".join(command))
            continue
        out.mkdir(parents=True, exist_ok=True)
        if name in MULTI_GPU and gpu_count() < 2:
            summary.append((name, 0, 0.0, [f"skipped: {gpu_count()} GPU visible, needs 2 or more"]))
            continue
        limit = max(args.timeout, TIMEOUTS.get(name, 0))
        start = time.perf_counter()
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=limit)
            text, code = run.stdout + run.stderr, run.returncode
        except subprocess.TimeoutExpired as err:
            text, code = f"{err.stdout or ''}{err.stderr or ''}\nTIMEOUT after {limit} s", 124
        (out / f"{name}.log").write_text(text)
        summary.append((name, code, time.perf_counter() - start, text.strip().splitlines()[-6:]))
    for name, code, seconds, tail in summary:
        print(f"\n== {name}: exit {code}, {seconds:.0f} s")
        print("\n".join(tail))
    return 0 if all(code == 0 for _, code, _, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main())

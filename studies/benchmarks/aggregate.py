"""Benchmark: maximal lotteries of many prompts, batched self-play vs per-prompt linprog.

Builds a random population profile (a mixture of Bradley–Terry types, or random voters
with majority cycles), then solves every prompt's maximal lottery three ways in the same
run: batched optimistic-Hedge self-play (mixpref, torch, CPU or GPU), scipy ``linprog``
(HiGHS) called once per prompt (the baseline; timed on a subsample and extrapolated when
``--lp-sample`` is smaller than ``--prompts``), and mixpref's block-diagonal HiGHS LP.
Prints the times, the self-play exploitability and the speed-up.

Usage::

    python studies/benchmarks/aggregate.py --prompts 10000 --candidates 8 --device cpu
    python studies/benchmarks/aggregate.py --prompts 100000 --candidates 8 --device cuda
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def build_game(kind, n_prompts, n_cands, n_types, seed):
    """Pooled skew-symmetric games ``A = P̄ - P̄ᵀ`` (n_prompts, M, M) of a random population."""
    rng = np.random.default_rng(seed)
    if kind == "bt":
        from scipy.special import expit

        rewards = rng.normal(size=(n_prompts, n_types, n_cands)) * 2.0
        weights = rng.dirichlet(np.ones(n_types), size=n_prompts)
        mats = expit(rewards[..., :, None] - rewards[..., None, :])
        pooled = np.einsum("pk,pkij->pij", weights, mats)
    elif kind == "voters":
        # n_types voters with uniformly random rankings: frequent majority cycles
        pos = np.argsort(rng.random((n_prompts, n_types, n_cands)), axis=2)
        pooled = (pos[..., :, None] < pos[..., None, :]).mean(axis=1)
    else:
        raise ValueError(f"--kind: got {kind!r}; expected 'bt' or 'voters'")
    return pooled - np.swapaxes(pooled, 1, 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--types", type=int, default=3, help="BT types (or voters with --kind voters)")
    parser.add_argument("--kind", default="bt", choices=["bt", "voters"])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--tol", type=float, default=1e-3, help="target exploitability")
    parser.add_argument("--lp-sample", type=int, default=1000, help="prompts solved by per-prompt linprog (extrapolated)")
    parser.add_argument("--block-lp", action=argparse.BooleanOptionalAction, default=True, help="also time the block LP")
    parser.add_argument("--repeats", type=int, default=3, help="self-play runs (best time reported)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads for self-play (mixpref's default 1; 0: torch's own setting)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import torch

    from mixpref.aggregation.lp import maximal_lottery_lp
    from mixpref._device import resolve_device
    from mixpref.aggregation.selfplay import exploitability, maximal_lottery_selfplay

    num_threads = args.threads or None
    device = resolve_device(args.device)
    game = build_game(args.kind, args.prompts, args.candidates, args.types, args.seed)
    mask = np.ones(game.shape[:2], dtype=bool)

    # warm-up: torch kernels, thread pools, scipy imports
    maximal_lottery_selfplay(game[:64], mask[:64], tol=args.tol, device=device, num_threads=num_threads)
    maximal_lottery_lp(game[:8], mask[:8], per_prompt=True)

    sp_times, sp_cpu = [], []
    for _ in range(max(1, args.repeats)):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        probs, expl, info = maximal_lottery_selfplay(game, mask, tol=args.tol, device=device, num_threads=num_threads)
        sp_times.append(time.perf_counter() - t0)  # the result is back on the host: synchronised
        sp_cpu.append(time.process_time() - c0)
    sp_time = min(sp_times)
    expl_check = exploitability(game, probs, mask)

    n_lp = min(args.lp_sample, args.prompts)
    sample = np.random.default_rng(args.seed + 1).choice(args.prompts, size=n_lp, replace=False)
    t0, c0 = time.perf_counter(), time.process_time()
    lp_probs = maximal_lottery_lp(game[sample], mask[sample], per_prompt=True)
    lp_sample_time = time.perf_counter() - t0
    lp_sample_cpu = time.process_time() - c0
    lp_per_prompt = lp_sample_time / n_lp
    lp_total = lp_per_prompt * args.prompts
    l1 = np.abs(lp_probs - probs[sample]).sum(axis=1)

    result = {
        "prompts": args.prompts,
        "candidates": args.candidates,
        "kind": args.kind,
        "types": args.types,
        "device": str(device),
        "torch_threads": num_threads or torch.get_num_threads(),
        "selfplay_s": sp_time,
        "selfplay_runs_s": sp_times,
        "selfplay_cpu_s": min(sp_cpu),
        "selfplay_iterations": info["iterations"],
        "selfplay_polished_fraction": info["polished"],
        "selfplay_max_exploitability": float(expl_check.max()),
        "selfplay_mean_exploitability": float(expl_check.mean()),
        "lp_sample": n_lp,
        "lp_sample_s": lp_sample_time,
        "lp_per_prompt_ms": 1e3 * lp_per_prompt,
        "lp_total_s": lp_total,
        "lp_total_cpu_s": lp_sample_cpu / n_lp * args.prompts,
        "lp_extrapolated": n_lp < args.prompts,
        "speedup_vs_per_prompt_lp": lp_total / sp_time,
        "speedup_vs_per_prompt_lp_cpu_time": lp_sample_cpu / n_lp * args.prompts / min(sp_cpu),
        "max_l1_selfplay_vs_lp_on_sample": float(l1.max()),
    }
    if args.block_lp:
        t0 = time.perf_counter()
        block = maximal_lottery_lp(game, mask)
        result["block_lp_s"] = time.perf_counter() - t0
        result["block_lp_max_exploitability"] = float(exploitability(game, block, mask).max())
        result["speedup_vs_block_lp"] = result["block_lp_s"] / sp_time

    extrap = f" (timed on {n_lp} prompts, extrapolated)" if result["lp_extrapolated"] else ""
    print(f"maximal lotteries: {args.prompts} prompts x {args.candidates} candidates ({args.kind}), device {device}")
    print(
        f"  self-play (batched optimistic Hedge + polish): {sp_time:.3f} s best of {len(sp_times)} "
        f"[{', '.join(f'{t:.3f}' for t in sp_times)}], {info['iterations']} iterations, "
        f"exploitability max {result['selfplay_max_exploitability']:.2e} mean {result['selfplay_mean_exploitability']:.2e}, "
        f"polished {100 * info['polished']:.1f}%"
    )
    print(f"  per-prompt linprog (HiGHS): {result['lp_per_prompt_ms']:.3f} ms/prompt -> {lp_total:.2f} s{extrap}")
    if args.block_lp:
        print(f"  block-diagonal linprog (mixpref method='lp'): {result['block_lp_s']:.2f} s")
    print(f"  max L1(self-play, LP) on the LP sample: {result['max_l1_selfplay_vs_lp_on_sample']:.2e}")
    print(
        f"  speed-up of self-play over per-prompt linprog: {result['speedup_vs_per_prompt_lp']:.1f}x wall-clock, "
        f"{result['speedup_vs_per_prompt_lp_cpu_time']:.1f}x process CPU time "
        f"({min(sp_cpu):.3f} s vs {result['lp_total_cpu_s']:.2f} s; {result['torch_threads']} torch threads)"
    )
    if args.block_lp:
        print(f"  speed-up of self-play over block linprog: {result['speedup_vs_block_lp']:.1f}x")
    if args.json:
        from mixpref._io import write_json

        write_json(result, args.json)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

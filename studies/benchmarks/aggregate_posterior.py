"""Benchmark: a rule over posterior draws (draws x prompts) vs one point aggregation as large.

``mp.aggregate(profile, rule, posterior=True)`` (``aggregate_posterior``) stacks the draws
as prompts and runs the rule once, so S draws of P prompts should cost about as much as
one point aggregation of S x P prompts. This script times both in the same run on random
Bradley–Terry mixtures (the point profile has S x P prompts; the posterior profile has P
prompts with S draws of noisy rewards) and prints the ratio (acceptance: at most 3).

The posterior time includes everything ``aggregate_posterior`` does: stacking the draws,
validating the stacked profile, the rule, and the summaries (support and winner
probabilities, the mean lottery's exploitability and each type's win rate under every
draw). The point time is one ``mp.aggregate`` call on a profile built beforehand.

Usage::

    python studies/benchmarks/aggregate_posterior.py                 # 100 draws x 10k prompts x 8
    python studies/benchmarks/aggregate_posterior.py --small          # 20 draws x 1k prompts
    python studies/benchmarks/aggregate_posterior.py --rule borda
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time

import numpy as np


def build_profiles(n_draws, n_prompts, n_cands, n_types, noise, seed):
    """(posterior profile with draws, point profile of n_draws * n_prompts prompts)."""
    import mixpref as mp

    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(n_prompts, n_types, n_cands)) * 2.0
    weights = rng.dirichlet(np.ones(n_types), size=n_prompts)
    draws = rewards[None] + noise * rng.normal(size=(n_draws, n_prompts, n_types, n_cands))
    posterior = mp.Profile.from_rewards(rewards, weights, reward_samples=draws)
    del draws
    big_rewards = rng.normal(size=(n_draws * n_prompts, n_types, n_cands)) * 2.0
    big_weights = rng.dirichlet(np.ones(n_types), size=n_draws * n_prompts)
    point = mp.Profile.from_rewards(big_rewards, big_weights)
    return posterior, point


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--types", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.5, help="posterior sd of each reward")
    parser.add_argument("--rule", default="maximal_lottery")
    parser.add_argument("--method", default="selfplay", help="maximal_lottery's method (both runs)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--small", action="store_true", help="20 draws x 1,000 prompts (a smoke run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.small:
        args.draws, args.prompts = 20, 1000

    import mixpref as mp
    from mixpref.aggregation.posterior import aggregate_posterior

    options = {"method": args.method, "device": args.device} if args.rule == "maximal_lottery" else {}
    posterior, point = build_profiles(args.draws, args.prompts, args.candidates, args.types, args.noise, args.seed)
    # warm-up: imports, torch kernels, thread pools
    warm, _ = build_profiles(2, 50, args.candidates, args.types, args.noise, args.seed + 1)
    aggregate_posterior(warm, args.rule, **options)
    mp.aggregate(warm, args.rule, study=False, **options)

    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    lot = mp.aggregate(point, args.rule, study=False, **options)
    point_s, point_cpu = time.perf_counter() - t0, time.process_time() - c0
    point_expl = float(lot.exploitability().max()) if args.rule == "maximal_lottery" else None
    del lot, point
    gc.collect()

    t0, c0 = time.perf_counter(), time.process_time()
    post = aggregate_posterior(posterior, args.rule, **options)
    post_s, post_cpu = time.perf_counter() - t0, time.process_time() - c0

    result = {
        "rule": args.rule,
        "options": options,
        "draws": args.draws,
        "prompts": args.prompts,
        "candidates": args.candidates,
        "types": args.types,
        "point_prompts": args.draws * args.prompts,
        "point_s": point_s,
        "point_cpu_s": point_cpu,
        "posterior_s": post_s,
        "posterior_cpu_s": post_cpu,
        "ratio": post_s / point_s,
        "ratio_cpu": post_cpu / point_cpu,
        "point_max_exploitability": point_expl,
        "posterior_mean_support": float((post.support_probability > 0).sum(axis=1).mean()),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, device {args.device}",
    }
    print(
        f"{args.rule}: posterior over {args.draws} draws x {args.prompts} prompts x {args.candidates} candidates "
        f"({args.types} types) vs one point aggregation of {args.draws * args.prompts} prompts; {result['machine']}"
    )
    print(f"  point aggregation:      {point_s:.2f} s wall, {point_cpu:.2f} s CPU")
    print(f"  posterior aggregation:  {post_s:.2f} s wall, {post_cpu:.2f} s CPU")
    print(f"  ratio posterior / point: {result['ratio']:.2f} wall, {result['ratio_cpu']:.2f} CPU (acceptance: <= 3)")
    if args.json:
        from mixpref._io import write_json

        write_json(result, args.json)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

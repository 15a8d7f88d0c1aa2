"""Benchmark: mp.dpo.train_tabular, L-BFGS (the default) against full-batch Adam (the baseline).

A soft-label DPO problem with a finite optimum: random BT populations (K = 3 types), the
pooled rule's lottery, all pairs with the aggregate's soft labels, beta = 1, uniform
reference. Both optimisers minimise the same objective in the same run; the script prints
wall time, final objective, the gap to the best objective found, and the speed ratio.

Usage::

    python studies/benchmarks/tabular_dpo.py --prompts 2000 --candidates 8
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def problem(n_prompts, n_candidates, seed):
    import mixpref as mp

    rewards = np.random.default_rng(seed).normal(0, 1.5, size=(n_prompts, 3, n_candidates))
    profile = mp.Profile.from_rewards(rewards, np.array([0.5, 0.3, 0.2]))
    lottery = mp.aggregate(profile, "pooled")
    return lottery, mp.to_dpo_pairs(lottery, strategy="all_pairs")


def main(argv=None):
    import mixpref as mp

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--lbfgs-steps", type=int, default=200)
    parser.add_argument("--adam-steps", type=int, default=1000)
    parser.add_argument("--adam-lr", type=float, default=0.05)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    lottery, pairs = problem(args.prompts, args.candidates, args.seed)
    print(f"{args.prompts} prompts x {args.candidates} candidates, {len(pairs)} pairs, device {args.device}")
    # warm-up: the first torch optimiser built in a process imports torch._dynamo (~3 s)
    small_lottery, small_pairs = problem(2, 3, args.seed)
    mp.dpo.train_tabular(small_pairs, small_lottery, loss="soft", beta=1.0, steps=2, device=args.device)
    rows = {}
    for name, kw in (("lbfgs", dict(optimizer="lbfgs", steps=args.lbfgs_steps)),
                     ("adam (baseline)", dict(optimizer="adam", steps=args.adam_steps, lr=args.adam_lr))):
        start = time.perf_counter()
        policy = mp.dpo.train_tabular(pairs, lottery, loss="soft", beta=1.0, device=args.device, **kw)
        wall = time.perf_counter() - start
        rows[name] = (wall, float(policy.loss_history[-1]), len(policy.loss_history))
    best = min(v[1] for v in rows.values())
    for name, (wall, final, evals) in rows.items():
        print(f"{name:16s} {wall:8.2f} s  objective {final:.10f}  gap {final - best:.2e}  evaluations {evals}")
    ratio = rows["adam (baseline)"][0] / rows["lbfgs"][0]
    print(f"speed ratio adam / lbfgs: {ratio:.1f}x")
    return rows


if __name__ == "__main__":
    main()

"""Benchmark: scoring a pool of 100k candidate pairs with each active-learning objective.

``mp.active.suggest`` scores the pool vectorised over pairs (in chunks) and posterior draws.
This script fits a linear 3-type MixtureBT (d = 64) with Laplace posterior draws, builds a
pool of 100k candidate pairs (each asked of a known annotator), and times, in the same run:

* ours: the objective's scores for the whole pool (belief from the model, pair scores;
  "decision" includes the Smith-set outcome of every draw and prompt; "prediction" (EPIG)
  the joint of every candidate with 512 target rows of the pool), and the whole
  ``suggest(n=10)`` call (scores + greedy diverse batch);
* naive: a Python loop over pairs computing the same score pair by pair (numpy inside
  each pair), timed on ``--naive-pairs`` pairs and extrapolated linearly to the pool.

Acceptance: < 1 s per objective for 100k pairs on CPU. ``ours_cpu_s`` is the process's CPU
time for the same work (on a machine shared with other jobs, wall time overstates it).
Numpy's BLAS threads are left as they are.

Usage::

    python studies/benchmarks/active.py            # 100k pairs, 64 draws
    python studies/benchmarks/active.py --small    # 5k pairs
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import pandas as pd


def naive_epig(belief, pool, annotators):
    """EPIG pair by pair: for each candidate, the 2 x 2 joint with every target (``prediction``)."""
    from mixpref.active.objectives import binary_entropy as hb
    from mixpref.active.prediction import targets_of

    targets = targets_of(len(pool))
    probs = lambda row: 1 / (1 + np.exp(-(belief.basis[:, :, pool.ia[row]] - belief.basis[:, :, pool.ib[row]])
                                        @ belief.hypotheses.T))  # (S, H)
    q_all = [probs(t) for t in targets]
    out = np.empty(len(pool))
    for row in range(len(pool)):
        p, mix = probs(row), belief.mix[row]
        total = 0.0
        for t, q in zip(targets, q_all):
            if annotators[row] == annotators[t]:  # one annotator: the same hypothesis behind both answers
                j11 = float(((p * q) @ mix).mean())
            else:
                j11 = float(((p @ mix) * (q @ belief.mix[t])).mean())
            pa, qa = float((p @ mix).mean()), float((q @ belief.mix[t]).mean())
            cells = np.array([j11, pa - j11, qa - j11, 1 - pa - qa + j11])
            total += float(hb(np.array([pa]))[0] + hb(np.array([qa]))[0] + (cells * np.log(cells)).sum())
        out[row] = total / len(targets)
    return out


def naive_scores(objective, belief, pool, codes, annotators=None):
    from mixpref.active.objectives import binary_entropy as hb

    if objective == "prediction":
        return naive_epig(belief, pool, annotators)
    out = np.empty(len(pool))
    for row in range(len(pool)):
        a, b = pool.ia[row], pool.ib[row]
        basis = belief.point if objective == "type" else belief.basis
        p = 1 / (1 + np.exp(-(basis[:, :, a] - basis[:, :, b]) @ belief.hypotheses.T))  # (S, H)
        mix = belief.mix[row]
        if objective == "type":
            pbar = p[0]
            out[row] = hb(np.array([mix @ pbar]))[0] - mix @ hb(pbar)
            continue
        ps = p @ mix
        if objective == "reward" and belief.per_answer_types:
            out[row] = hb(np.array([ps.mean()]))[0] - hb(ps).mean()
        elif objective == "reward":
            # the annotator's type persists across answers: an unknown like the rewards
            out[row] = hb(np.array([ps.mean()]))[0] - (hb(p) @ mix).mean()
        elif objective == "uncertainty":
            out[row] = hb(np.array([ps.mean()]))[0]
        else:
            o = codes[:, pool.prompt_code[row]]
            cond = sum((o == c).mean() * hb(np.array([ps[o == c].mean()]))[0] for c in np.unique(o))
            out[row] = hb(np.array([ps.mean()]))[0] - cond
    return out


def main(argv=None):
    import mixpref as mp
    from mixpref.active import suggest
    from mixpref.active.belief import belief_of
    from mixpref.active.objectives import NEEDS_DRAWS, score_pool
    from mixpref.active.outcomes import outcome_codes
    from mixpref.active.pool import make_pool

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--draws", type=int, default=64)
    parser.add_argument("--naive-pairs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n_pairs = 5000 if args.small else args.pairs
    pop = mp.synthetic.population(n_types=3, n_annotators=60, comparisons_per_annotator=40, dim=64, n_prompts=200,
                                  responses_per_prompt=10, random_state=args.seed)
    model = mp.MixtureBT(n_types=3, n_restarts=1, inference="laplace", n_samples=args.draws).fit(pop.data, pop.features)
    rng = np.random.default_rng(args.seed)
    prompt = rng.integers(0, 200, n_pairs)
    i = rng.integers(0, 10, n_pairs)
    j = (i + rng.integers(1, 10, n_pairs)) % 10
    ann = rng.choice(list(pop.data.annotators), n_pairs)
    frame = pd.DataFrame({"prompt_id": [f"p{p}" for p in prompt], "response_a": [f"p{p}_r{x}" for p, x in zip(prompt, i)],
                          "response_b": [f"p{p}_r{x}" for p, x in zip(prompt, j)], "annotator": ann})
    pool = make_pool(frame, pop.features)
    rows = []
    ann_codes = pd.factorize(frame["annotator"])[0]
    for objective in ("type", "reward", "decision", "prediction", "uncertainty", "random"):
        t0, c0 = time.perf_counter(), time.process_time()
        belief = belief_of(model, pop.features, frame["annotator"].tolist(), n_draws=args.draws,
                           need_draws=objective in NEEDS_DRAWS, objective=objective)
        codes = outcome_codes(belief, pool)[0] if objective == "decision" else None
        ours = score_pool(objective, belief, pool, codes, annotator_codes=ann_codes)
        t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        suggest(model, frame, pop.features, n=10, objective=objective, n_draws=args.draws)
        t_suggest = time.perf_counter() - t0
        row = {"objective": objective, "pairs": n_pairs, "draws": belief.basis.shape[0], "ours_s": round(t_ours, 3), "ours_cpu_s": round(c_ours, 3),
               "suggest_n10_s": round(t_suggest, 3),
               "all_finite": bool(np.isfinite(ours).all())}
        if objective != "random":
            sub = make_pool(frame.iloc[: args.naive_pairs].reset_index(drop=True), pop.features)
            sub_belief = belief_of(model, pop.features, frame["annotator"].iloc[: args.naive_pairs].tolist(),
                                   n_draws=args.draws, need_draws=objective in NEEDS_DRAWS)
            sub_codes = outcome_codes(sub_belief, sub)[0] if objective == "decision" else None
            sub_ann = ann_codes[: args.naive_pairs]
            t0 = time.perf_counter()
            slow = naive_scores(objective, sub_belief, sub, sub_codes, sub_ann)
            t_naive = (time.perf_counter() - t0) * n_pairs / args.naive_pairs
            check = score_pool(objective, sub_belief, sub, sub_codes, annotator_codes=sub_ann)
            row.update(naive_s_extrapolated=round(t_naive, 2), ratio=round(t_naive / t_ours, 1),
                       max_abs_diff=float(np.abs(np.maximum(slow, 0 if objective != "uncertainty" else -1) - check).max()))
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps({"machine": platform.processor() or platform.machine(), "python": platform.python_version()}))
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()

"""Study `iterative`: closing the loop - sample, score with the population, aggregate, train, repeat.

On a tabular policy (each prompt a softmax over its candidates), every round samples
candidates from the current policy, scores them with the population (its preference
matrices, or new answers asked from the synthetic population and re-estimated), builds
targets and trains with soft-label DPO at beta = 0.1 relative to the current policy
(``mp.dpo.iterate``). Targets come from win-rate self-play (each candidate's pooled win
rate against the policy's own samples tilts the policy, SPPO's update) or from a rule over
the sampled candidates (pooled, maximal lottery, max-min). Per round: each type's win rate
against a uniformly random candidate and the exploitability in the pooled game, for the
current policy and its time average. Then the same loop on a tiny random causal LM scored
by a `PopulationReward` (``mp.dpo.iterate_lm``).

Run: ``python studies/iterative.py`` (``--small`` for a smoke test into a temporary folder).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import mixpref as mp
from mixpref.reporting import Report

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aggregation_rules import cycle_profile, majority_minority_profile

RESULTS = Path(__file__).resolve().parent / "results" / "iterative"
RUNS = {
    "selfplay (population)": dict(mode="selfplay", eta=1.0),
    "selfplay (asked)": dict(mode="selfplay", eta=1.0, scorer="ask", n_votes=20),
    "pooled": dict(mode="rule", rule="pooled"),
    "maximal_lottery": dict(mode="rule", rule="maximal_lottery"),
    "maxmin": dict(mode="rule", rule="maxmin"),
}


def run_population(profile, rounds, seed, run):
    histories, finals = {}, []
    for name, options in RUNS.items():
        result = mp.dpo.iterate(profile, rounds=rounds, n_samples=16, beta=0.1, random_state=seed, **options)
        h = result.history
        histories[name] = h
        last = h.iloc[-1]
        row = {"run": name, "rounds": rounds, "tv_avg_to_maximal_lottery": last.tv_avg_to_maximal_lottery,
               "tv_last_to_maximal_lottery": last.tv_to_maximal_lottery,
               "exploitability_avg": last.exploitability_avg, "exploitability_last": last.exploitability}
        row.update({c: last[c] for c in h.columns if c.startswith("type") and c.endswith("_avg")})
        finals.append(row)
        run.log_metrics({f"{name}.tv_avg": float(last.tv_avg_to_maximal_lottery),
                         f"{name}.exploitability_avg": float(last.exploitability_avg)})
    return histories, pd.DataFrame(finals)


def plot_trajectories(histories, title):
    types = sorted(c for c in next(iter(histories.values())).columns if c.startswith("type") and c.endswith("_avg"))
    fig, axes = plt.subplots(1, 2 + len(types), figsize=(4.2 * (2 + len(types)), 3.4))
    for name, h in histories.items():
        axes[0].plot(h["round"], h["exploitability_avg"], label=name)
        axes[1].plot(h["round"], h["tv_avg_to_maximal_lottery"], label=name)
        for ax, col in zip(axes[2:], types):
            ax.plot(h["round"], h[col], label=name)
    axes[0].set_title("exploitability of the time average")
    axes[1].set_title("TV(time average, maximal lottery)")
    for ax, col in zip(axes[2:], types):
        ax.set_title(f"{col.replace('_win_rate_avg', '')}: win rate of the time average")
    for ax in axes:
        ax.set_xlabel("round")
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def lm_loop(work, rounds, seed, small):
    """Self-play on a tiny random GPT-2 scored by a 3-type population over text embeddings."""
    from mixpref.dpo.tiny import tiny_causal_lm

    model_dir = tiny_causal_lm(Path(work) / "tiny_lm", seed=seed, n_positions=64)
    if small:
        dim = 8

        def encoder(texts):  # character counts: a stand-in for MiniLM in the smoke run
            out = np.zeros((len(texts), dim))
            for i, t in enumerate(texts):
                for ch in t:
                    out[i, ord(ch) % dim] += 1.0
            return out / np.maximum(1.0, np.linalg.norm(out, axis=1, keepdims=True))
    else:
        encoder, dim = mp.TextEncoder("minilm"), 384
    theta = 4.0 * np.random.default_rng(seed).normal(size=(3, dim)) / np.sqrt(dim)
    reward = mp.dpo.PopulationReward(lambda phi: theta @ phi.T, rule="maximal_lottery", weights=[0.4, 0.35, 0.25],
                                     encoder=encoder)
    prompts = ["which is better ?", "is it good ?", "what is a cat ?", "why the rain ?"]
    return mp.dpo.iterate_lm(model_dir, prompts, reward, Path(work) / "loop", rounds=rounds, n_samples=8,
                             steps_per_round=5, lr=5e-3, random_state=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--out", default=None, help="default: studies/results/iterative (full run), a temporary folder (--small)")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-lm", action="store_true", help="skip the tiny LM loop")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = tempfile.mkdtemp(prefix="iterative-small-") if args.small else str(RESULTS)
    n_prompts, rounds, lm_rounds = (4, 20, 1) if args.small else (50, 300, 4)
    rng = np.random.default_rng(args.seed)
    results = {}
    with mp.Study("iterative", tracking_uri=args.tracking_uri, output_dir=args.out) as study:
        title = "Closing the loop: iterative self-play and rule-based training"
        report = Report(args.out, title + (" (smoke run: --small, not the results)" if args.small else ""), study)
        report.text(__doc__.split("\n\n", 1)[1].split("Run:")[0])
        for key, name, profile in (("condorcet_cycle", "3-type Condorcet cycle", cycle_profile(n_prompts, 3.0, rng)),
                                   ("majority_minority", "60/40 majority/minority",
                                    majority_minority_profile(n_prompts, 6, 2.0, rng))):
            with study.run(key, params={"population": key, "rounds": rounds, "n_prompts": n_prompts}) as run:
                histories, table = run_population(profile, rounds, args.seed, run)
            results[key] = table
            report.text(f"## {name}")
            report.table(table, f"{key}_final", f"{name}: after {rounds} rounds (time-averaged policy unless 'last')",
                         floatfmt=".3f")
            report.figure(plot_trajectories(histories, name), f"{key}_trajectories",
                          f"{name}: per-round exploitability, distance to the maximal lottery and each type's win rate")
            pd.concat([h.assign(run=n) for n, h in histories.items()]).to_csv(Path(args.out) / f"{key}_history.csv",
                                                                             index=False)
        report.text(
            "Win-rate self-play is multiplicative weights in the symmetric game of the pooled preferences, so its "
            "time average approaches the game's equilibrium, the maximal lottery (the last iterate keeps cycling "
            "around it on a Condorcet cycle). Training on pooled targets settles on the pooled favourite and stays "
            "far from it. A rule applied to each round's sampled candidates (maximal lottery, max-min) is reproduced "
            "because the soft labels carry the trainer's beta and reference (the current policy)."
        )
        if not args.no_lm:
            with study.run("tiny_lm", params={"rounds": lm_rounds}) as run:
                with tempfile.TemporaryDirectory() as work:  # models of each round are not results
                    history = lm_loop(work, lm_rounds, args.seed, args.small)
                run.log_metrics({"pooled_vs_start_last": float(history.pooled_vs_start.iloc[-1])})
            results["tiny_lm"] = history
            report.text("## A tiny causal LM\nSelf-play rounds (`mp.dpo.iterate_lm`): each type's win probability of "
                        "the trained model's samples over the starting model's.")
            report.table(history, "tiny_lm_rounds", "tiny LM: per round", floatfmt=".3f")
        path = report.write()
    for key, table in results.items():
        print(f"\n{key}\n{table.round(3).to_string(index=False)}")
    print(f"report: {path}")
    return results


if __name__ == "__main__":
    main()

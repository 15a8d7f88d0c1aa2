"""Study `aggregation_rules`: whom does each social-choice rule serve?

Two populations, each rule applied to the same profile:

* **majority/minority**: 60% of the population (type 0) and 40% (type 1) with
  anti-correlated rewards (correlation -0.5) over M candidates per prompt.
* **Condorcet cycle**: three types (0.40/0.35/0.25) ranking three candidates A>B>C,
  B>C>A, C>A>B; every pair of types outweighs the third, so the majority relation is a
  cycle on every prompt.

For each rule: each type's expected win rate of the rule's lottery against a uniformly
random candidate, the worst-off type, Condorcet consistency and exploitability. ``pooled``
is what a single Bradley-Terry or DPO fit effectively optimises (a Borda-like average).

Run: ``python studies/aggregation_rules.py`` (``--small`` for a smoke test).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import mixpref as mp
from mixpref.reporting import Report, grouped_bars

RULES = ["majority", "pooled", "borda", "copeland", "maximal_lottery", "maxmin", "utilitarian", "dictator"]


def majority_minority_profile(n_prompts, n_candidates, scale, rng):
    base = rng.standard_normal((n_prompts, n_candidates))
    other = rng.standard_normal((n_prompts, n_candidates))
    minority = -0.5 * base + np.sqrt(0.75) * other
    rewards = scale * np.stack([base, minority], axis=1)  # (P, K=2, M)
    return mp.Profile.from_rewards(rewards, weights=[0.6, 0.4])


def cycle_profile(n_prompts, scale, rng):
    scores = np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 2.0]])  # type k's score of A, B, C
    rewards = scale * (scores[None] + 0.05 * rng.standard_normal((n_prompts, 3, 3)))
    return mp.Profile.from_rewards(rewards, weights=[0.40, 0.35, 0.25])


def compare(profile):
    table = mp.compare_rules(profile, rules=RULES, options={"dictator": {"type": 0}})
    keep = [c for c in table.columns if c.endswith("_vs_uniform")] + [
        c for c in ("worst_type", "condorcet_prompts", "condorcet_chosen", "cycle_prompts", "exploitability", "support") if c in table.columns
    ]
    return table[keep]


def plot(report, table, name, title):
    types = [c for c in table.columns if c.startswith("type") and c.endswith("_vs_uniform")]
    fig = grouped_bars(table, types, "win rate vs a uniformly random candidate", [c.replace("_vs_uniform", "") for c in types])
    fig.axes[0].set_title(title)
    report.figure(fig, name, title)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "aggregation_rules"))
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    n_prompts = 20 if args.small else 500
    results = {}
    with mp.Study("aggregation_rules", tracking_uri=args.tracking_uri, output_dir=args.out) as study:
        report = Report(args.out, "Whom does each aggregation rule serve?", study)
        report.text(__doc__.split("\n\n", 1)[1].split("Run:")[0])
        for key, title, profile in (
            ("majority_minority", "60/40 majority/minority, anti-correlated rewards", majority_minority_profile(n_prompts, 6, 2.0, rng)),
            ("condorcet_cycle", "Condorcet cycle (0.40/0.35/0.25)", cycle_profile(n_prompts, 3.0, rng)),
        ):
            with study.run(key, params={"population": key, "prompts": n_prompts}) as run:
                table = compare(profile)
                results[key] = table
                run.log_metrics({f"{rule}.worst_vs_uniform": float(table.loc[rule, [c for c in table.columns if c.startswith("type")]].min()) for rule in table.index})
            report.text(f"## {title}")
            report.table(table.reset_index(), f"{key}_rules", f"{title}: rules compared", floatfmt=".3f")
            plot(report, table, f"{key}_winrates", f"Each type's win rate by rule: {title}")
        mm = results["majority_minority"]
        cyc = results["condorcet_cycle"]
        minority = "type1_vs_uniform"
        report.text(
            "## Who is left behind\n"
            f"* Majority/minority: the minority's win rate is {mm.loc['majority', minority]:.3f} under majority, "
            f"{mm.loc['pooled', minority]:.3f} under pooled (single-model) aggregation and "
            f"{mm.loc['maxmin', minority]:.3f} under max-min.\n"
            f"* Condorcet cycle: {int(cyc['cycle_prompts'].iloc[0])} of {n_prompts} prompts have a majority cycle; the maximal "
            f"lottery's exploitability is {cyc.loc['maximal_lottery', 'exploitability']:.2e} (no candidate beats it "
            f"in expectation), against {cyc.loc['pooled', 'exploitability']:.3f} for pooled."
        )
        path = report.write()
    for key, table in results.items():
        print(f"\n{key}\n{table.round(3).to_string()}")
    print(f"report: {path}")
    return results


if __name__ == "__main__":
    main()

"""Study `uncertainty`: how sure is each stage, from the fit through the rule to the DPO targets?

* **Coverage.** On synthetic single-type populations with known rewards (3 seeds, d = 64,
  1,200 comparisons), the 90% equal-tailed credible interval of every reward difference
  between two candidates of a prompt is checked against the truth, for ``inference=
  "laplace"``, ``"svi"`` and the bootstrap ensemble. A calibrated posterior covers about 90%.
* **Shrinkage.** A two-type mixture (Laplace posterior) is fitted to a synthetic population
  and to UKPConvArg1 (MiniLM embeddings) with 1%, 10% and 100% of the annotators; the
  maximal lottery is applied to every posterior draw (``mp.aggregate(..., posterior=True)``).
  Reported: the mean width of the 90% intervals of each type's win rate against the mean
  lottery, the fraction of candidates whose support probability is undecided (between 0.1
  and 0.9), the mean winner probability of each prompt's most likely winner, and how many
  DPO pairs (all pairs of the mean lottery) the confidence filter keeps at 0.9.
* **Audit.** ``mp.audit`` on the majority/minority and Condorcet-cycle populations of the
  ``aggregation_rules`` study.

Run: ``python studies/uncertainty.py`` (``--small`` for a smoke test; ``--ukp-topics N`` keeps
N of UKPConvArg1's 32 topic/stance prompts when the full data is too slow).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np
import pandas as pd

import mixpref as mp
from mixpref.reporting import Report, grouped_bars, new_figure

HERE = Path(__file__).resolve().parent
FRACTIONS = (0.01, 0.1, 1.0)
LEVEL = 0.9


# ---------------------------------------------------------------------------- coverage
def pair_coverage(draws, truth, prompt_of, level=LEVEL):
    """Fraction of within-prompt candidate pairs whose credible interval covers the true difference."""
    hits = []
    for p in np.unique(prompt_of):
        idx = np.flatnonzero(prompt_of == p)
        i, j = np.triu_indices(len(idx), 1)
        d = draws[:, idx[i]] - draws[:, idx[j]]
        lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2], axis=0)
        t = truth[idx[i]] - truth[idx[j]]
        hits.append((t >= lo) & (t <= hi))
    return float(np.concatenate(hits).mean())


def coverage_table(seeds, small):
    settings = {
        "laplace": {},
        "svi": {"svi_steps": 300 if small else 1000, "svi_lr": 0.02},
        "ensemble": {"n_members": 5 if small else 20},
    }
    rows = []
    for seed in seeds:
        pop = mp.synthetic.population(n_types=1, n_annotators=20 if small else 60, comparisons_per_annotator=20,
                                      dim=16 if small else 64, n_prompts=20, responses_per_prompt=10, logit_sd=1.0,
                                      random_state=seed)
        prompt_of = np.repeat(np.arange(20), 10)
        for inference, opts in settings.items():
            t = time.perf_counter()
            m = mp.BradleyTerry(inference=inference, n_samples=400, random_state=seed, **opts).fit(pop.data, pop.features)
            draws = m.sample_rewards(400, pop.features)
            rows.append({"seed": seed, "inference": inference,
                         "coverage": pair_coverage(draws, pop.truth.rewards[0], prompt_of),
                         "fit_s": time.perf_counter() - t})
    per_seed = pd.DataFrame(rows)
    summary = per_seed.groupby("inference", sort=False).agg(coverage=("coverage", "mean"), coverage_min=("coverage", "min"),
                                                             coverage_max=("coverage", "max"), fit_s=("fit_s", "mean"))
    return per_seed, summary


# ---------------------------------------------------------------------------- shrinkage
def subsample(data, fraction, rng):
    ann = np.asarray(data.annotators)
    n = max(2, int(round(fraction * len(ann))))
    return data if n >= len(ann) else data.select(annotators=rng.choice(ann, size=n, replace=False))


def shrinkage_row(name, fraction, data, features, candidates, n_types, n_samples, seed):
    t = time.perf_counter()
    model = mp.MixtureBT(n_types=n_types, n_restarts=1, inference="laplace", n_samples=n_samples,
                         random_state=seed).fit(data, features)
    fit_s = time.perf_counter() - t
    profile = model.profile(candidates, features)
    t = time.perf_counter()
    post = mp.aggregate(profile, "maximal_lottery", posterior=True, study=False)
    agg_s = time.perf_counter() - t
    intervals = post.win_rate_interval(level=LEVEL)
    real = post.mask
    sp = post.support_probability[real]
    pairs_all = mp.to_dpo_pairs(post, strategy="all_pairs")
    kept = mp.to_dpo_pairs(post, strategy="all_pairs", confidence=LEVEL)
    return {
        "data": name, "fraction": fraction, "annotators": len(data.annotators), "comparisons": len(data),
        "laplace": model.laplace_["method"], "n_params": model.laplace_["n_params"],
        "type_weights": " / ".join(f"{w:.2f}" for w in model.weights_),
        "win_rate_interval_width": float((intervals["upper"] - intervals["lower"]).mean()),
        "undecided_support": float(((sp > 0.1) & (sp < 0.9)).mean()),
        "top_winner_probability": float(post.winner_probability.max(axis=1).mean()),
        "mean_exploitability": float(post.exploitability.mean()),
        "dpo_pairs": len(pairs_all), "dpo_pairs_kept": len(kept),
        "dpo_kept_fraction": len(kept) / max(len(pairs_all), 1),
        "fit_s": fit_s, "aggregate_s": agg_s,
    }


def shrinkage_table(name, data, features, candidates, n_types, n_samples, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for fraction in FRACTIONS:
        sub = subsample(data, fraction, rng)
        rows.append(shrinkage_row(name, fraction, sub, features, candidates, n_types, n_samples, seed))
        print(f"{name} {fraction:.0%}: {rows[-1]}", flush=True)
    return pd.DataFrame(rows)


def load_ukp(n_topics, cache_dir, seed):
    data = mp.datasets.load("ukpconvarg1")
    note = "all 32 topic/stance prompts"
    if n_topics is not None and n_topics < len(data.prompts):
        keep = np.random.default_rng(seed).choice(np.asarray(data.prompts["prompt_id"]), size=n_topics, replace=False)
        data = data.select(prompts=keep)
        note = f"{n_topics} of the 32 topic/stance prompts (drawn at random, seed {seed})"
    features = mp.TextEncoder("minilm", cache_dir=cache_dir).encode_data(data)
    return data, features, note


# ---------------------------------------------------------------------------- audit
def aggregation_rules_profiles(n_prompts, seed):
    spec = importlib.util.spec_from_file_location("_aggregation_rules_study", HERE / "aggregation_rules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(seed)
    return {
        "majority_minority": module.majority_minority_profile(n_prompts, 6, 2.0, rng),
        "condorcet_cycle": module.cycle_profile(n_prompts, 3.0, rng),
    }


AUDIT_COLUMNS = ["pareto_violations", "condorcet_pooled", "condorcet_majority", "pmc_consistent",
                 "monotonicity_violations", "worst_type", "worst_type_win_rate", "distortion",
                 "distortion_worst_normalisation", "exploitability", "support"]


# ---------------------------------------------------------------------------- plots
def plot_shrinkage(report, table):
    fig, axes = new_figure(width=11.0, height=3.6, ncols=3)
    for name, part in table.groupby("data", sort=False):
        x = part["fraction"] * 100
        axes[0].plot(x, part["win_rate_interval_width"], marker="o", label=name)
        axes[1].plot(x, part["undecided_support"], marker="o", label=name)
        axes[2].plot(x, part["dpo_kept_fraction"], marker="o", label=name)
    titles = ("width of 90% win-rate intervals", "candidates with undecided support", "DPO pairs kept at 0.9")
    for ax, title in zip(axes, titles):
        ax.set_xscale("log")
        ax.set_xlabel("annotators used (%)")
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        ax.legend()
    report.figure(fig, "shrinkage", "Uncertainty through the maximal lottery as the data grow (Laplace posterior)")


def plot_coverage(report, summary):
    fig = grouped_bars(summary[["coverage"]], ["coverage"], "coverage of 90% intervals", ["coverage"], reference=0.9,
                       reference_label="nominal (0.9)")
    ax = fig.axes[0]
    ax.axhspan(0.85, 0.95, color="0.9", zorder=0)
    ax.set_ylim(0, 1)
    ax.set_title("Reward-difference coverage against the synthetic truth (3 seeds)")
    report.figure(fig, "coverage", "Coverage of 90% credible intervals of reward differences (band: 85-95%)")


def findings(summary, shrink, audits):
    """The report's closing paragraph, read off the tables."""
    cov = ", ".join(f"{k} {v:.3f}" for k, v in summary["coverage"].items())
    lines = ["## Findings", f"* Coverage of nominal 90% intervals (3 seeds): {cov}. The bootstrap ensemble "
             "(MAP refits on annotator resamples) is reported as measured, whatever it covers."]
    for name, part in shrink.groupby("data", sort=False):
        part = part.sort_values("fraction")
        first, last = part.iloc[0], part.iloc[-1]
        lines.append(
            f"* {name}: from {first['annotators']:,} to {last['annotators']:,} annotators the 90% win-rate intervals "
            f"shrink from {first['win_rate_interval_width']:.3f} to {last['win_rate_interval_width']:.3f} wide, the "
            f"most likely winner's probability grows from {first['top_winner_probability']:.2f} to "
            f"{last['top_winner_probability']:.2f}, and the confidence filter keeps {first['dpo_kept_fraction']:.0%} "
            f"then {last['dpo_kept_fraction']:.0%} of the DPO pairs.")
    cyc = audits.get("condorcet_cycle")
    if cyc is not None:
        lines.append(f"* Condorcet cycle: the maximal lottery's exploitability is "
                     f"{cyc.loc['maximal_lottery', 'exploitability']:.1e}, pooled's "
                     f"{cyc.loc['pooled', 'exploitability']:.3f}.")
    for key, table in audits.items():
        bad = table.index[table["pareto_violations"] > 0].tolist()
        lines.append(f"* {key}: Pareto violations by " + (", ".join(bad) if bad else "no rule") + ".")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results" / "uncertainty"))
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "mixpref" / "features"),
                        help="embedding cache (outside the repository)")
    parser.add_argument("--ukp-topics", type=int, default=None, help="keep this many UKPConvArg1 prompts")
    parser.add_argument("--no-ukp", action="store_true", help="skip UKPConvArg1 (the synthetic parts only)")
    args = parser.parse_args(argv)
    small = args.small
    results = {}
    with mp.Study("uncertainty", tracking_uri=args.tracking_uri, output_dir=args.out) as study:
        report = Report(args.out, "Uncertainty through the rule, into the targets, and an audit of every rule", study)
        report.text(__doc__.split("\n\n", 1)[1].split("Run:")[0])

        with study.run("coverage", params={"seeds": 3, "level": LEVEL, "small": small}) as run:
            per_seed, summary = coverage_table((0, 1, 2), small)
            run.log_metrics({f"{k}.coverage": float(v) for k, v in summary["coverage"].items()})
        results["coverage"], results["coverage_per_seed"] = summary, per_seed
        report.text("## Coverage of 90% credible intervals (synthetic truth)")
        report.table(summary.reset_index(), "coverage", "Mean, min and max over 3 seeds of the fraction of "
                     "within-prompt reward differences whose 90% interval covers the truth", floatfmt=".3f")
        report.table(per_seed, "coverage_per_seed", "Per seed", floatfmt=".3f")
        plot_coverage(report, summary)

        tables = []
        pop = mp.synthetic.population(n_types=2, n_annotators=100 if small else 1000, comparisons_per_annotator=20,
                                      dim=8 if small else 32, n_prompts=10 if small else 50, responses_per_prompt=6,
                                      random_state=args.seed)
        with study.run("shrinkage_synthetic", params={"annotators": len(pop.data.annotators), "n_types": 2}) as run:
            tables.append(shrinkage_table("synthetic", pop.data, pop.features, pop.data.candidates(), 2,
                                          50 if small else 200, args.seed))
            run.log_metrics({f"width.{f}": w for f, w in zip(FRACTIONS, tables[-1]["win_rate_interval_width"])})
        ukp_note = "skipped (--no-ukp)"
        if not args.no_ukp:
            topics = args.ukp_topics if args.ukp_topics is not None else (2 if small else None)
            data, features, ukp_note = load_ukp(topics, args.cache_dir, args.seed)
            with study.run("shrinkage_ukpconvarg1", params={"annotators": len(data.annotators), "topics": ukp_note}) as run:
                tables.append(shrinkage_table("ukpconvarg1", data, features, data.candidates(), 2,
                                              50 if small else 200, args.seed))
                run.log_metrics({f"width.{f}": w for f, w in zip(FRACTIONS, tables[-1]["win_rate_interval_width"])})
        shrink = pd.concat(tables, ignore_index=True)
        results["shrinkage"] = shrink
        report.text(f"## Uncertainty as the data grow\nUKPConvArg1: {ukp_note}. Two-type mixtures, Laplace posterior, "
                    "maximal lottery on every draw. `undecided_support`: fraction of candidates whose support "
                    "probability is in (0.1, 0.9); `top_winner_probability`: mean over prompts of the largest "
                    "winner probability; `dpo_pairs_kept`: pairs of the mean lottery (all pairs) whose preference "
                    "has posterior probability >= 0.9.")
        report.table(shrink, "shrinkage", "Interval widths, support and the DPO confidence filter by data fraction",
                     floatfmt=".3f")
        plot_shrinkage(report, shrink)

        audits = {}
        for key, profile in aggregation_rules_profiles(20 if small else 500, args.seed).items():
            with study.run(f"audit_{key}", params={"population": key}) as run:
                table = mp.audit(profile, options={"maximal_lottery": {"method": "lp"}})
                audits[key] = table
                run.log_metrics({f"{rule}.exploitability": float(v) for rule, v in table["exploitability"].items()})
            cols = [c for c in AUDIT_COLUMNS if c in table.columns]
            report.text(f"## Audit: {key.replace('_', '/')} population (aggregation_rules study)")
            report.table(table[cols].reset_index(), f"audit_{key}", f"mp.audit on the {key} population",
                         floatfmt=".3g")
        results["audit"] = audits
        report.text(findings(summary, shrink, audits))
        path = report.write()
    for key in ("coverage", "shrinkage"):
        print(f"\n{key}\n{results[key].round(3).to_string()}")
    print(f"report: {path}")
    return results


if __name__ == "__main__":
    main()

"""Study `personalization`: from population to person, and how few answers a new person needs.

Five models, each with K = 3 types or basis rewards: single Bradley–Terry; a discrete mixture
(MixtureBT); the mixture with its types shrunk towards the pooled model (``shrinkage="auto"``);
LowRankBT with simplex (mixed-membership) weights; LowRankBT with free (Gaussian) weights.
Each is scored by ``mixpref.evaluate.personalization``: LoRe's four splits (seen / unseen
annotators x seen / unseen prompts; unseen annotators predicted by the population) and the
few-shot curve (a fifth of each unseen annotator's comparisons held out; the model adapted,
population frozen, on the first s of the rest), with the same annotators' level when their
other comparisons are in training as the reference. Log-likelihoods are nats per comparison;
SEs are clustered by annotator.

The 10-shot gap (in training minus 10-shot) is split, on the synthetic populations, into
three parts that add up to it: the *oracle's* (a Bayes oracle that knows the generating
population, types or the Dirichlet prior over basis rewards, and predicts with the exact
posterior: its LL adapted on all of an annotator's adaptation comparisons minus its LL at 10;
no method can close this part in expectation), the *data cost* (in training minus the same
model adapted on all of them, population frozen: what fitting the population without these
annotators, and predicting through the prior rather than their own fitted weights, costs)
and the *method's* (the rest: the model's posterior after 10 answers falling further short
of its own posterior after all of them than the oracle's does). LowRankBT's prior for a new
person is its training persons' weights with mass fitted by NPMLE (empirical Bayes).

Data: (a) synthetic populations with discrete types, continuous persons (Dirichlet(0.5)
weights over 3 basis rewards) and no structure, across signal strength (sd of the true
logits); (b) UKPConvArg1 (crowd workers as annotators, MiniLM embeddings, cached); (c) the
psychotools paired-comparison surveys (respondents as annotators, items one-hot; pass
``--paircomp-dir ../shared/data/r_psychotools_paircomp/csv``).

Run: ``python studies/personalization.py --paircomp-dir ../shared/data/r_psychotools_paircomp/csv``
(``--small`` for a smoke test).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import mixpref as mp
from mixpref.data.synthetic_persons import persons
from mixpref.evaluate.few_shot_oracle import NAME as ORACLE, TRUE_WEIGHTS, Oracle
from mixpref.evaluate.personalization import ADAPTED_ALL, FEW_SHOT, REFERENCE, SPLITS, personalization, \
    plot_personalization, split as draw_split
from mixpref.models.lowrank import LowRankBT
from mixpref.reporting import Report, new_figure

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from real_annotators import PAIRCOMP_SETS, load_paircomp  # noqa: E402


def makers(seed, prior_scale=1.0):
    opts = {"random_state": seed, "prior_scale": prior_scale}
    return {
        "single BT": lambda: mp.BradleyTerry(**opts),
        "mixture": lambda: mp.MixtureBT(n_types=3, **opts),
        "mixture + shrinkage": lambda: mp.MixtureBT(n_types=3, shrinkage="auto", **opts),
        "low-rank simplex": lambda: LowRankBT(rank=3, weights="simplex", **opts),
        "low-rank free": lambda: LowRankBT(rank=3, weights="free", **opts),
    }


def synthetic(structure, sd, n_annotators, per, dim, seed):
    if structure == "continuous":
        pop = persons(rank=3, concentration=0.5, dim=dim, n_annotators=n_annotators, comparisons_per_annotator=per,
                      logit_sd=sd, random_state=seed)
    else:
        pop = mp.synthetic.population(n_types=3 if structure == "discrete" else 1, dim=dim, n_annotators=n_annotators,
                                      comparisons_per_annotator=per, logit_sd=sd, random_state=seed)
    return pop.data, pop.features, Oracle.from_truth(pop.truth, pop.data, random_state=seed)


def gap_table(table, at, floors=None):
    """Per dataset and model: few-shot LL at ``at`` shots, adapted on all, the in-training reference,
    the gap, and where the truth is known its decomposition: the Bayes oracle's own gap (what
    ``at`` answers cannot tell, even knowing the population), the data cost (in training minus
    adapted on all) and the rest, the method's."""
    def pick(split, shots=None, model=None):
        part = table[(table.split == split) & ((table.shots == shots) if shots is not None else True)]
        part = part[part.model == ORACLE] if model == ORACLE else part[part.model != ORACLE]
        return part.set_index(["dataset", "model"]) if model != ORACLE else part.set_index("dataset")

    few, ref = pick(FEW_SHOT, at), pick(REFERENCE)
    out = pd.DataFrame({
        "zero_shot": pick(FEW_SHOT, 0).log_likelihood,
        f"shots_{at}": few.log_likelihood,
        f"shots_{at}_se": few.log_likelihood_se,
        "shots_all": pick(ADAPTED_ALL).log_likelihood,
        "in_training": ref.log_likelihood,
    }).reset_index()
    out["gap"] = out["in_training"] - out[f"shots_{at}"]
    out["data_cost"] = out["in_training"] - out["shots_all"]
    o_few, o_all, o_true = (pick(FEW_SHOT, at, ORACLE).log_likelihood, pick(ADAPTED_ALL, model=ORACLE).log_likelihood,
                            pick(TRUE_WEIGHTS, model=ORACLE).log_likelihood)
    out[f"oracle_{at}"] = out.dataset.map(o_few)
    out["oracle_all"] = out.dataset.map(o_all)
    out["oracle_true_weights"] = out.dataset.map(o_true)
    out["oracle_gap"] = out["oracle_all"] - out[f"oracle_{at}"]
    out["method_excess"] = out["gap"] - out["data_cost"] - out["oracle_gap"]
    floors = floors or {}
    out["oracle_gap_mean"] = out.dataset.map({k: v[0] for k, v in floors.items()})
    out["oracle_gap_sd"] = out.dataset.map({k: v[1] for k, v in floors.items()})
    return out


def help_table(table):
    """Does personalisation help? Best personalised model vs single BT on each split (difference, SE)."""
    rows = []
    for (dataset, split, shots), part in table.groupby(["dataset", "split", "shots"]):
        bt = part[part.model == "single BT"]
        rest = part[part.model != "single BT"]
        if not len(bt) or not len(rest):
            continue
        best = rest.loc[rest.log_likelihood.idxmax()]
        se = float(np.hypot(best.log_likelihood_se, bt.log_likelihood_se.iloc[0]))
        rows.append({"dataset": dataset, "split": split, "shots": shots, "best": best.model,
                     "gain_over_bt": best.log_likelihood - bt.log_likelihood.iloc[0], "se_upper_bound": se})
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results" / "personalization"))
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paircomp-dir", default=None)
    parser.add_argument("--cache-dir", default="mixpref-runs/cache")
    parser.add_argument("--no-ukp", action="store_true", help="skip UKPConvArg1")
    parser.add_argument("--jobs", type=int, default=1,
                        help="datasets scored in parallel processes (one thread each); the fits are then not "
                             "logged to mlflow one by one, the metrics and report are")
    args = parser.parse_args(argv)
    if args.small:
        grid = [("discrete", 3.0), ("continuous", 3.0)]
        n_ann, per, dim, shots, ukp = 40, 30, 8, (0, 2, 10), False
    else:
        grid = [(s, sd) for s in ("discrete", "continuous", "none") for sd in (1.0, 2.0, 3.0)]
        n_ann, per, dim, shots, ukp = 300, 100, 128, (0, 1, 2, 5, 10, 20), not args.no_ukp
    datasets = [(f"{s}, sd={sd}", lambda s=s, sd=sd: synthetic(s, sd, n_ann, per, dim, args.seed)) for s, sd in grid]
    if ukp:
        def load_ukp():
            data = mp.datasets.load("ukpconvarg1")
            return data, mp.TextEncoder("minilm", cache_dir=args.cache_dir, progress=False).encode_data(data), None

        datasets.append(("UKPConvArg1", load_ukp))
    if args.paircomp_dir:
        names = list(PAIRCOMP_SETS)[:1] if args.small else list(PAIRCOMP_SETS)
        datasets += [(n, lambda n=n: (*load_paircomp(Path(args.paircomp_dir), n), None)) for n in names]
    tables = []
    floors = {}
    done = {}
    if args.jobs > 1:
        done = _parallel(datasets, shots, args.seed, args.jobs)
    with mp.Study("personalization", tracking_uri=args.tracking_uri, output_dir=args.out) as study:
        report = Report(args.out, "From population to person: personalisation and few-shot adaptation", study)
        report.text(__doc__.split("\n\n", 1)[1].split("Run:")[0])
        for name, load in datasets:
            t0 = time.perf_counter()
            table, n_comparisons, n_annotators, seconds = done.get(name) or (None, None, None, None)
            if table is None:
                data, features, oracle = load()
                n_comparisons, n_annotators = len(data), len(data.annotators)
            with study.run(name, params={"dataset": name, "comparisons": n_comparisons, "annotators": n_annotators,
                                         "shots": list(shots)}) as run:
                if table is None:
                    table = _score(name, data, features, oracle, shots, args.seed)
                for row in table.itertuples():
                    key = f"{row.model}|{row.split}|{row.shots}".replace(" ", "_").replace(",", "")
                    run.log_metrics({f"ll.{key}": row.log_likelihood})
            tables.append(table)
            if "oracle_floor" in table.attrs:
                floors[name] = table.attrs["oracle_floor"]
            seconds = seconds or time.perf_counter() - t0
            print(f"{name}: {n_comparisons} comparisons, {seconds:.0f} s", flush=True)
            fig = plot_personalization(table)
            fig.suptitle(name)
            report.figure(fig, f"personalization_{_slug(name)}", f"{name}: few-shot curve and the four splits")
        table = pd.concat(tables, ignore_index=True)
        report.table(table, "personalization", "Every model, split and shot count", floatfmt=".4f")
        at = 10
        gaps = gap_table(table, at, floors)
        report.table(gaps, "few_shot_gap", f"Few-shot at {at} comparisons vs the same annotators in training "
                     "(gap = in training - few-shot, nats)", floatfmt=".4f")
        helps = help_table(table[table.split.isin(list(SPLITS) + [FEW_SHOT]) & (table.model != ORACLE)])
        report.table(helps, "personalization_gain", "Best personalised model minus single BT (se_upper_bound: the "
                     "two SEs combined as if independent; paired SEs are smaller)", floatfmt=".4f")
        fig, ax = new_figure(8, 4.5)
        for i, (model, part) in enumerate(gaps.groupby("model", sort=False)):
            ax.scatter(np.arange(len(part)) + 0.1 * i, part.gap, label=model, color=f"C{i}")
        floor = gaps.groupby("dataset", sort=False).oracle_gap.first()
        ax.scatter(np.arange(len(floor)) + 0.2, floor.to_numpy(), marker="x", color="black", label="Bayes oracle's own gap")
        ax.axhline(0.01, color="grey", ls="--", lw=0.8)
        ax.set_xticks(np.arange(gaps.dataset.nunique()))
        ax.set_xticklabels(list(dict.fromkeys(gaps.dataset)), rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(f"in training - {at}-shot (nats/comparison)")
        ax.set_title(f"How far {at} answers get a new annotator (dashed: 0.01 nats)")
        ax.legend(fontsize=8)
        report.figure(fig, "few_shot_gap", f"Gap between {at}-shot adaptation and in-training, per dataset and model")
        report.text(_summary(gaps, helps, at, table[table.split == FEW_SHOT]))
        path = report.write()
    print(f"report: {path}")
    return table[table.model != ORACLE].reset_index(drop=True)


def _score(name, data, features, oracle, shots, seed):
    real = not name.startswith(("discrete", "continuous", "none"))
    # real data: the few-shot curve up to 10 (many respondents answer few more)
    table = personalization(makers(seed), data, features, shots=shots if not real else
                            tuple(s for s in shots if s <= 10), oracle=oracle, random_state=seed)
    table.insert(0, "dataset", name)
    if oracle is not None:
        table.attrs["oracle_floor"] = oracle_floor(data, oracle, at=10, n_splits=10, seed=seed)
    return table


def oracle_floor(data, oracle, at=10, n_splits=10, seed=0):
    """The Bayes oracle's own gap (adapted on all minus at ``at`` shots) over ``n_splits`` random splits:
    (mean, sd). One split's gap moves by about 0.01 nats with which annotators are held out."""
    gaps = []
    for k in range(n_splits):
        sp = draw_split(data, random_state=seed + k)
        n_all = int(round(len(sp.adaptation()) / len(sp.unseen)))
        rows = {(r["split"], r["shots"]): r["log_likelihood"] for r in oracle.rows(data, sp, [at], n_all)}
        gaps.append(rows[ADAPTED_ALL, n_all] - rows[FEW_SHOT, at])
    return float(np.mean(gaps)), float(np.std(gaps, ddof=1))


_JOBS = []


def _one(i):
    import torch

    torch.set_num_threads(1)
    name, load, shots, seed = _JOBS[i]
    t0 = time.perf_counter()
    data, features, oracle = load()
    table = _score(name, data, features, oracle, shots, seed)
    print(f"{name}: scored in {time.perf_counter() - t0:.0f} s", flush=True)
    return table, len(data), len(data.annotators), time.perf_counter() - t0


def _parallel(datasets, shots, seed, jobs):
    """Score the datasets in ``jobs`` forked processes, largest first (UKPConvArg1 takes the longest)."""
    import multiprocessing as mproc
    from concurrent.futures import ProcessPoolExecutor

    _JOBS[:] = [(name, load, shots, seed) for name, load in datasets]
    order = sorted(range(len(_JOBS)), key=lambda i: _JOBS[i][0] != "UKPConvArg1")
    with ProcessPoolExecutor(jobs, mp_context=mproc.get_context("fork")) as pool:
        futures = {i: pool.submit(_one, i) for i in order}
        return {_JOBS[i][0]: f.result() for i, f in futures.items()}


def _dips(curves, at=10):
    """Does each few-shot curve on a structured synthetic population rise: ``at`` shots above 0, and where it dips."""
    out, above, n = [], 0, 0
    for (dataset, model), part in curves[curves.dataset.str.startswith(("discrete", "continuous"))].groupby(
            ["dataset", "model"], sort=False):
        c = part.sort_values("shots").set_index("shots").log_likelihood
        if model == "single BT":
            continue
        n += 1
        above += int(c.loc[at] > c.loc[0])
        step = np.diff(c.to_numpy())
        if (step < 0).any():
            out.append(f"{model} on {dataset} ({', '.join(f'{v:+.4f}' for v in step[step < 0])})")
    return (f"{at} shots above 0 shots in {above} of {n} curves (models and the Bayes oracle); dips between "
            "neighbouring shot counts (a Bayes predictive rises in expectation, not in every held-out sample): "
            + ("; ".join(out) if out else "none") + ".")


def _slug(name):
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def _summary(gaps, helps, at, curves):
    lines = []
    structured = gaps[gaps.dataset.str.startswith(("discrete", "continuous"))]
    floor = structured.groupby("dataset", sort=False).oracle_gap.first()
    lines.append(f"- The Bayes oracle (true population, exact posterior) itself loses, with {at} answers instead of "
                 "all of an annotator's adaptation answers (the ones the reference has in training), "
                 + ", ".join(f"{d} {g:+.4f}" for d, g in floor.items())
                 + f". Where this exceeds 0.01 ({int((floor > 0.01).sum())} of {len(floor)} populations) no method's "
                 f"{at}-shot LL can come within 0.01 nats of the best level reachable with all the answers (in "
                 "expectation); a model meets the point there only because its own level with all the answers (in "
                 "training, or adapted on them) falls short of the oracle's, which leaves it less to catch up (a "
                 "negative data cost or method's part below).")
    mean = structured.groupby("dataset", sort=False)[["oracle_gap_mean", "oracle_gap_sd"]].first()
    if mean.oracle_gap_mean.notna().any():
        lines.append("- That split is one draw: over 10 random splits (which annotators are unseen) the oracle's own "
                     f"{at}-shot gap is, mean (sd) per population, "
                     + ", ".join(f"{d} {r.oracle_gap_mean:+.4f} ({r.oracle_gap_sd:.4f})" for d, r in mean.iterrows())
                     + f". Above 0.01 in expectation on {int((mean.oracle_gap_mean > 0.01).sum())} of {len(mean)}: "
                     "there the point asks, on average, more than 10 answers can tell even with the true population; "
                     f"and one split's gap moves by about its sd (mean sd {mean.oracle_gap_sd.mean():.4f}, against a "
                     "threshold of 0.01).")
    for model in ("mixture", "mixture + shrinkage", "low-rank simplex", "low-rank free"):
        part = structured[structured.model == model]
        if len(part):
            ok = part[part.gap <= 0.01]
            lines.append(f"- {model}: {at}-shot within 0.01 nats of in-training on {len(ok)} of {len(part)} synthetic "
                         "populations with structure; gap = oracle's + data cost + method's: "
                         + "; ".join(f"{r.dataset} {r.gap:+.4f} = {r.oracle_gap:+.4f} {r.data_cost:+.4f} "
                                     f"{r.method_excess:+.4f}" for r in part.itertuples()) + ".")
    lines.append(f"- Rises with shots: {_dips(curves)}")
    real = helps[~helps.dataset.str.startswith(("discrete", "continuous", "none"))]
    for row in real.itertuples():
        if row.split in (SPLITS[0], FEW_SHOT) and (row.split != FEW_SHOT or row.shots == real[real.split == FEW_SHOT].shots.max()):
            verdict = "helps" if row.gain_over_bt > 2 * row.se_upper_bound else (
                "hurts" if row.gain_over_bt < -2 * row.se_upper_bound else "no clear difference")
            lines.append(f"- {row.dataset}, {row.split} ({row.shots} shots): best personalised model ({row.best}) "
                         f"{row.gain_over_bt:+.4f} nats vs single BT (SE <= {row.se_upper_bound:.4f}): {verdict}.")
    return "## Verdicts\n\n" + "\n".join(lines)


if __name__ == "__main__":
    main()

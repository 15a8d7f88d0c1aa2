"""Study `real_annotators`: annotator types in real preference data.

* The R survey sets (psychotools / psychotree, GPL, read from a path: pass
  ``--paircomp-dir ../shared/data/r_psychotools_paircomp/csv``): every respondent compared
  every pair of 5-8 items (top models, German parties, first names, sound reproduction
  modes). Items are one-hot features, so the mixture is a latent-class Bradley-Terry model.
* UKPConvArg1 (bundled): argument convincingness judged by crowd workers, MiniLM
  embeddings (cached).

For each set: K chosen by held-out log-likelihood, each type's weight and favourite items,
and every rule applied to the fitted population.

* PrefLib MTurk "dots" (``--preflib-dots-dir ../shared/data/preflib_mturk_dots``): anonymous
  rankings with a known true order, to check the rules against the truth.

Run: ``python studies/real_annotators.py --paircomp-dir ../shared/data/r_psychotools_paircomp/csv
--preflib-dots-dir ../shared/data/preflib_mturk_dots``
(``--small`` for a smoke test).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import mixpref as mp
from mixpref.data.operations import take
from mixpref.reporting import Report, new_figure

PAIRCOMP_SETS = {
    "Topmodel2007": "subject",
    "GermanParties2009": "subject",
    "FirstNames": "subject",
    "SoundQuality": "id",  # a row is a listening session; the listener is `id`
}


def load_paircomp(folder: Path, name: str):
    """One psychotools set as PreferenceData (items as response ids) and one-hot Features."""
    long = pd.read_csv(folder / f"{name}_preference_long.csv", dtype={"subject": str})
    annotator = PAIRCOMP_SETS[name]
    if annotator != "subject":
        subjects = pd.read_csv(folder / f"{name}_subjects.csv", dtype=str)
        long = long.merge(subjects[["subject", annotator]], on="subject", how="left", validate="many_to_one")
    long["label"] = long["winner"].map({"item_a": "a", "item_b": "b", "tie": "tie"})
    data = mp.PreferenceData.from_frame(
        long, prompt=None, response_a="item_a", response_b="item_b", label="label", annotator=annotator, responses="ids"
    )
    items = data.responses["response_id"]
    return data, mp.Features(items, np.eye(len(items)))


def analyse(name, data, features, ks, seed, study, report, prior_scale=1.0):
    with study.run(name, params={"dataset": name, "ks": list(ks)}) as run:
        selection = mp.select_n_types(
            data, features, base=mp.BradleyTerry(prior_scale=prior_scale), ks=ks, criterion="heldout", random_state=seed
        )
        k = int(selection.k)
        model = mp.MixtureBT(n_types=k, prior_scale=prior_scale, random_state=seed).fit(data, features)
        profile = model.profile(data, features)
        rules = mp.compare_rules(profile)
        run.log_metrics({"chosen_k": k, **{f"weight_{i}": float(w) for i, w in enumerate(model.weights_)}})
        run.log_table(selection.table, f"{name}_selection")
        run.log_table(rules.reset_index(), f"{name}_rules")
    rewards = np.atleast_2d(model.rewards(features))
    summary = data.summary()
    report.text(
        f"## {name}\n{summary.n_comparisons:,} comparisons by {summary.n_annotators:,} annotators over "
        f"{summary.n_responses} items; {summary.n_ties:,} ties. Selected K = {k}."
    )
    report.table(selection.table, f"{name}_selection", f"{name}: held-out log-likelihood by K")
    fig, ax = new_figure(5, 3.5)
    ax.plot(selection.table["k"], selection.table["heldout_ll"], marker="o")
    ax.axvline(k, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("K (annotator types)")
    ax.set_ylabel("held-out log-likelihood / observation")
    ax.set_title(name)
    report.figure(fig, f"{name}_selection", f"{name}: held-out log-likelihood by K (chosen K dashed)")
    if len(features) <= 12:
        items = list(features.ids)
        worth = pd.DataFrame(rewards - rewards.mean(axis=1, keepdims=True), columns=items)
        worth.insert(0, "weight", model.weights_)
        worth.insert(0, "type", range(k))
        report.table(worth, f"{name}_types", f"{name}: each type's weight and item rewards (centred)", floatfmt=".2f")
        fig, ax = new_figure(7, 3.5)
        for t in range(k):
            ax.plot(items, worth.iloc[t, 2:], marker="o", label=f"type {t} (w={model.weights_[t]:.2f})")
        ax.set_ylabel("reward (centred)")
        ax.tick_params(axis="x", rotation=30)
        ax.legend()
        report.figure(fig, f"{name}_types", f"{name}: item rewards by type")
    report.table(rules.reset_index(), f"{name}_rules", f"{name}: rules compared", floatfmt=".3f")
    return {"dataset": name, "k": k, "weights": np.round(model.weights_, 3).tolist(),
            "best_heldout": float(selection.table["heldout_ll"].max())}


def preflib_truth_table(folder: Path):
    """PrefLib MTurk 'dots' (true order known: 1,2,3,4): which rules pick the true best?

    Voters are anonymous, so the profile is one type whose P(i beats j) is the share of
    voters ranking i above j; rules are compared by the candidate they put most mass on.
    """
    rows = []
    for path in sorted(folder.glob("*.soc")):
        data = mp.read_preflib(path)
        arr = data.implied_comparisons().arrays
        m = len(data.responses)
        wins = np.zeros((m, m))
        np.add.at(wins, (arr.a, arr.b), 1.0)
        matrix = wins / np.maximum(wins + wins.T, 1)
        np.fill_diagonal(matrix, 0.5)
        profile = mp.Profile(matrix[None, None], weights=[1.0], candidates=np.array([data.responses["response_id"].tolist()], dtype=object))
        row = {"file": path.name, "voters": len(data), "truth_beats_2nd": float(matrix[list(data.responses.response_id).index("1"), list(data.responses.response_id).index("2")])}
        for rule in ("borda", "copeland", "maximal_lottery", "kemeny"):
            lottery = mp.aggregate(profile, rule)
            row[rule] = lottery.candidates[0][int(np.argmax(lottery.probs[0]))]
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--paircomp-dir", default=None, help="folder of the psychotools CSVs (GPL data, not bundled)")
    parser.add_argument("--preflib-dots-dir", default=None, help="folder of PrefLib 'dots' .soc files (true order 1,2,3,4)")
    parser.add_argument("--no-ukp", action="store_true", help="skip UKPConvArg1")
    parser.add_argument("--cache-dir", default="mixpref-runs/cache")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "real_annotators"))
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    ks = (1, 2) if args.small else (1, 2, 3, 4, 5)
    rows = []
    with mp.Study("real_annotators", tracking_uri=args.tracking_uri, output_dir=args.out) as study:
        report = Report(args.out, "Annotator types in real preference data", study)
        report.text(__doc__.split("\n\n", 1)[1].split("Run:")[0])
        if args.paircomp_dir:
            folder = Path(args.paircomp_dir)
            for name in (["Topmodel2007"] if args.small else list(PAIRCOMP_SETS)):
                data, features = load_paircomp(folder, name)
                rows.append(analyse(name, data, features, ks, args.seed, study, report))
                print(rows[-1])
        if not args.no_ukp:
            data = mp.datasets.load("ukpconvarg1")
            if args.small:
                data = take(data, np.flatnonzero(data.arrays.prompt < 2), np.zeros(0, dtype=int))
            features = mp.TextEncoder("minilm", cache_dir=args.cache_dir).encode_data(data)
            rows.append(analyse("UKPConvArg1", data, features, ks, args.seed, study, report))
            print(rows[-1])
        if args.preflib_dots_dir:
            dots = preflib_truth_table(Path(args.preflib_dots_dir))
            report.text(
                "## PrefLib MTurk dots: rules against a known truth\nWorkers ranked 4 images by their number of "
                "dots (Mao, Procaccia & Chen 2013); alternative 1 truly has the fewest. Each rule's top candidate:"
            )
            report.table(dots, "preflib_dots", "Top candidate of each rule (truth: 1)")
            study.log_metrics({"preflib_dots.rules_right": float((dots[["borda", "copeland", "maximal_lottery", "kemeny"]] == "1").to_numpy().mean())})
            print(dots.to_string(index=False))
        overview = pd.DataFrame(rows)
        report.text("## Overview")
        report.table(overview, "overview", "Selected number of types per dataset")
        path = report.write()
    print(f"report: {path}")
    return overview


if __name__ == "__main__":
    main()

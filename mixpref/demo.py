"""The main job, end to end on bundled UKPConvArg1: ``mixpref demo``.

embed the argument texts (bundled MiniLM, cached) -> choose the number of annotator types
-> fit a single Bradley-Terry model and the selected mixture -> per-topic profile -> compare
every rule -> DPO targets from the chosen rule -> report.md with plots, all logged to mlflow.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._io import atomic_path
from .reporting import Report, grouped_bars, new_figure


@dataclass
class DemoResult:
    """Where the demo put things, and its headline numbers."""

    out_dir: Path
    report: Path
    targets: Path
    tracking_uri: str | None
    n_types: int
    metrics: dict = field(default_factory=dict)


def _progress(console, message):
    if console is not None:
        console.log(message)


def run_demo(
    out_dir="mixpref-runs/demo",
    cache_dir=None,
    tracking_uri=None,
    ks=(1, 2, 3, 4),
    rule="maximal_lottery",
    small=False,
    device="auto",
    random_state=0,
    console=None,
    embed_chunk_size=128,
) -> DemoResult:
    """Run the demo pipeline; see the module docstring.

    Parameters
    ----------
    out_dir : path-like
        Report, plots, tables, model and targets go here.
    cache_dir : path-like, optional
        Embedding cache (default ``<out_dir>/../cache``); a rerun, or a run interrupted
        during embedding, resumes from it.
    tracking_uri : str, optional
        mlflow URI (default ``sqlite:///<cwd>/mixpref-runs/mlflow.db``); ``False`` disables mlflow.
    ks : sequence of int
        Numbers of types to try.
    rule : str
        The rule whose lottery becomes DPO targets.
    small : bool
        Four topics and K in {1, 2}: a quick check of the whole pipeline.
    embed_chunk_size : int
        Texts per cache shard: an interrupted run loses at most one chunk of work.

    Examples
    --------
    >>> from mixpref.demo import run_demo
    >>> result = run_demo(out_dir="/tmp/mixpref-demo", small=True)  # doctest: +SKIP
    >>> result.report.name  # doctest: +SKIP
    'report.md'
    """
    import mixpref as mp

    out_dir = Path(out_dir).absolute()
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir.parent / "cache"
    if small:
        ks = tuple(k for k in ks if k <= 2) or (1, 2)
    timings = {}
    t0 = time.perf_counter()
    with mp.Study("demo", tracking_uri=tracking_uri, output_dir=out_dir) as study:
        data = mp.datasets.load("ukpconvarg1")
        if small:
            data = data.select(prompts=data.prompts["prompt_id"][:4])
        summary = data.summary()
        study.log_params({"dataset": "ukpconvarg1", "small": small, "rule": rule, "ks": list(ks), "seed": random_state})
        study.log_dataset(data.to_frame(), name="ukpconvarg1")
        _progress(console, f"loaded UKPConvArg1: {summary.n_comparisons:,} comparisons, {summary.n_annotators:,} annotators")

        t = time.perf_counter()
        encoder = mp.TextEncoder("minilm", device=device, cache_dir=cache_dir, chunk_size=embed_chunk_size)
        features = encoder.encode_data(data)
        timings["embed_s"] = time.perf_counter() - t
        _progress(console, f"embedded {len(features):,} arguments in {timings['embed_s']:.1f} s (cache: {cache_dir})")

        train, test = data.split(test_size=0.2, by="observation", random_state=random_state)
        t = time.perf_counter()
        with study.run("select_n_types", params={"ks": list(ks), "criterion": "heldout"}) as run:
            selection = mp.select_n_types(train, features, ks=ks, criterion="heldout", random_state=random_state)
            run.log_table(selection.table, "selection")
            run.log_metrics({"chosen_k": selection.k})
        timings["select_s"] = time.perf_counter() - t
        k = int(selection.k)
        _progress(console, f"selected K = {k} in {timings['select_s']:.1f} s")

        t = time.perf_counter()
        with study.run("single_bt", params={"model": "BradleyTerry"}) as run:
            single = mp.BradleyTerry(random_state=random_state, device=device).fit(train, features)
            single_ll = single.score(test, features)
            run.log_metrics({"heldout_loglik": single_ll})
        with study.run(f"mixture_k{k}", params={"model": "MixtureBT", "n_types": k}) as run:
            mixture = mp.MixtureBT(n_types=k, random_state=random_state, device=device).fit(train, features)
            mixture_ll = mixture.score(test, features)
            run.log_metrics({"heldout_loglik": mixture_ll, **{f"weight_{i}": float(w) for i, w in enumerate(mixture.weights_)}})
            model_dir = mixture.save(out_dir / "model")
            run.log_model_dir(model_dir)
        timings["fit_s"] = time.perf_counter() - t
        _progress(console, f"held-out log-likelihood: single BT {single_ll:.4f}, mixture (K={k}) {mixture_ll:.4f}")

        t = time.perf_counter()
        with study.run("aggregate", params={"rule": rule}) as run:
            profile = mixture.profile(data, features)
            table = mp.compare_rules(profile)
            run.log_table(table.reset_index(), "rules")
            lottery = mp.aggregate(profile, rule)
            pairs = mp.to_dpo_pairs(lottery, data)
            targets = out_dir / "dpo_targets.jsonl"
            mp.to_jsonl(pairs, targets)
            run.log_artifact(targets)
            run.log_metrics({"n_pairs": len(pairs)})
        timings["aggregate_s"] = time.perf_counter() - t
        _progress(console, f"compared {len(table)} rules; wrote {len(pairs):,} DPO pairs from '{rule}'")

        report = Report(out_dir, "mixpref demo: UKPConvArg1", study)
        _write_report(report, data, summary, selection, single_ll, mixture, mixture_ll, profile, table, rule, pairs, timings)
        timings["total_s"] = time.perf_counter() - t0
        metrics = {
            "n_types": k,
            "heldout_loglik_single": single_ll,
            "heldout_loglik_mixture": mixture_ll,
            "n_pairs": len(pairs),
            **timings,
        }
        study.log_metrics(metrics)
        with atomic_path(out_dir / "metrics.json") as tmp:
            tmp.write_text(json.dumps(metrics, indent=2))
        path = report.write()
    return DemoResult(out_dir, path, targets, study.tracking_uri, k, metrics)


def _write_report(report, data, summary, selection, single_ll, mixture, mixture_ll, profile, table, rule, pairs, timings):
    report.text(
        "UKPConvArg1 (Habernal & Gurevych 2016, CC BY 4.0): crowd workers judged which of two web "
        "arguments on the same debate side is more convincing, or that they are equal. Arguments are "
        "embedded with the bundled all-MiniLM-L6-v2; the number of annotator types K is chosen by "
        "held-out log-likelihood; every social-choice rule is applied to the fitted population, per topic."
    )
    report.text(
        f"**Data**: {summary.n_comparisons:,} comparisons, {summary.n_annotators:,} annotators, "
        f"{summary.n_prompts} topics, {summary.n_responses:,} arguments, {100 * summary.tie_rate:.1f}% ties; "
        f"{len(summary.cyclic_prompts)} topics have a cycle in their raw majority graph."
    )
    report.text("## How many annotator types?")
    report.table(selection.table, "selection", "Held-out log-likelihood by K (80/20 split of the observations)")
    fig, ax = new_figure(5, 3.5)
    sel = selection.table
    kcol = "k" if "k" in sel.columns else sel.columns[0]
    ycol = next((c for c in sel.columns if "heldout" in c.lower()), sel.columns[-1])
    ax.plot(sel[kcol], sel[ycol], marker="o")
    ax.axvline(selection.k, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("K (annotator types)")
    ax.set_ylabel("held-out log-likelihood / comparison")
    report.figure(fig, "heldout_by_k", "Held-out log-likelihood by K")

    k = len(mixture.weights_)
    sizes = mixture.assign().value_counts().reindex(range(k), fill_value=0)
    report.text("## The types")
    report.text(
        f"Single Bradley-Terry held-out log-likelihood {single_ll:.4f} per comparison; mixture with K = {k}: "
        f"{mixture_ll:.4f} ({mixture_ll - single_ll:+.4f})."
    )
    fig, ax = new_figure(5, 3.5)
    ax.bar(np.arange(k), mixture.weights_, label="weight")
    ax2 = ax.twinx()
    ax2.plot(np.arange(k), sizes.to_numpy(), "o", color="tab:red", label="annotators assigned")
    ax.set_xlabel("type")
    ax.set_ylabel("type weight")
    ax2.set_ylabel("annotators assigned")
    report.figure(fig, "type_weights", "Type weights and number of annotators assigned to each type")

    report.text(f"## Rules compared (lottery used for DPO targets: `{rule}`)")
    report.table(table.reset_index(), "rules", "Each type's expected win rate by rule (averaged over topics)", floatfmt=".3f")
    types = [c for c in table.columns if c.startswith("type") and c.endswith("_vs_uniform")]
    fig = grouped_bars(table, types, "win rate vs a random argument", [c.replace("_vs_uniform", "") for c in types])
    report.figure(fig, "winrate_by_rule", "Each type's win rate by rule")

    mask = profile.mask[0]
    pooled = profile.pooled()[0][np.ix_(mask, mask)]
    order = np.argsort(-pooled.sum(axis=1))  # best (Borda) first, so the structure is visible
    fig, ax = new_figure(5, 4.5)
    image = ax.imshow(pooled[np.ix_(order, order)], vmin=0, vmax=1, cmap="RdBu_r")
    ax.set_xlabel("argument (by pooled Borda score)")
    ax.set_title(f"P(row beats column), pooled: {profile.prompts[0]}"[:70], fontsize=8)
    fig.colorbar(image, ax=ax)
    report.figure(fig, "preference_matrix", "Pooled preference matrix of the first topic")

    report.text(
        f"## DPO targets\n{len(pairs):,} (prompt, chosen, rejected) pairs from `{rule}` in `dpo_targets.jsonl` "
        "(columns include `p_chosen` and the SPPO-style win probabilities).\n\n"
        "## Timings\n" + ", ".join(f"{k}: {v:.1f} s" for k, v in timings.items())
    )

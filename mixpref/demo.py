"""The main job, end to end on bundled UKPConvArg1: ``mixpref demo``.

embed the argument texts (bundled MiniLM, cached) -> fit K = 1 (the single Bradley-Terry
model), 2, ... types on 80% of the comparisons and choose K on the other 20% -> per-topic
profile of the chosen mixture -> compare every rule -> DPO targets from the chosen rule ->
report.md with plots (see :mod:`mixpref.demo_report`), all logged to mlflow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


from ._io import write_json
from .reporting import Report

# K is the smallest number of types within this many standard errors of the best held-out score
N_SE = 2.0


@dataclass
class DemoResult:
    """Where the demo put things, and its headline numbers."""

    out_dir: Path
    report: Path
    targets: Path
    tracking_uri: str | None
    n_types: int
    metrics: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict, repr=False)


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

        t = time.perf_counter()
        base = mp.BradleyTerry(random_state=random_state, device=device)
        with study.run("select_n_types", params={"ks": list(ks), "criterion": "heldout", "n_se": N_SE}) as run:
            # select_n_types splits the data exactly as data.split(test_size=0.2, by="observation",
            # random_state) would: its K = 1 row *is* the single model, so the report has one
            # single-BT number and one held-out set
            selection = mp.select_n_types(data, features, base=base, ks=ks, criterion="heldout", n_se=N_SE,
                                          refit=False, random_state=random_state)
            run.log_table(selection.table, "selection")
            run.log_metrics({"chosen_k": selection.k})
        timings["select_and_fit_s"] = time.perf_counter() - t
        k = int(selection.k)
        _progress(console, f"selected K = {k} in {timings['select_and_fit_s']:.1f} s")
        heldout = selection.table.set_index("k")["heldout_ll"]

        t = time.perf_counter()
        with study.run("single_bt", params={"model": "BradleyTerry"}) as run:
            if 1 in selection.models:
                single_ll = float(heldout[1])
            else:
                train, test = data.split(test_size=0.2, by="observation", random_state=random_state)
                single_ll = float(base.fit(train, features).score(test, features))
            run.log_metrics({"heldout_loglik": single_ll})
        with study.run(f"mixture_k{k}", params={"model": "MixtureBT", "n_types": k}) as run:
            mixture = selection.models[k]
            mixture_ll = float(heldout[k])
            run.log_metrics({"heldout_loglik": mixture_ll, **{f"weight_{i}": float(w) for i, w in enumerate(mixture.weights_)}})
            model_dir = mixture.save(out_dir / "model")
            run.log_model_dir(model_dir)
        timings["save_model_s"] = time.perf_counter() - t
        _progress(console, f"held-out log-likelihood: single BT {single_ll:.4f}, mixture (K={k}) {mixture_ll:.4f}")

        t = time.perf_counter()
        with study.run("aggregate", params={"rule": rule}) as run:
            profile = mixture.profile(data, features)
            if profile.texts is None:  # names, not hashes, in every table of the report
                profile = profile.with_texts(dict(zip(data.responses["response_id"], data.responses["text"])))
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
        from .demo_report import write_report

        write_report(report, data, summary, selection, N_SE, single_ll, mixture, mixture_ll, profile, table,
                     lottery, rule, pairs, timings)
        timings["total_s"] = time.perf_counter() - t0
        metrics = {
            "n_types": k,
            "heldout_loglik_single": single_ll,
            "heldout_loglik_mixture": mixture_ll,
            "n_pairs": len(pairs),
            **timings,
        }
        study.log_metrics(metrics)
        write_json(metrics, out_dir / "metrics.json")
        path = report.write()
    return DemoResult(out_dir, path, targets, study.tracking_uri, k, metrics, report.figures)

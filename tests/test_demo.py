"""The README's main job, on a small configuration: report, plots, targets and mlflow runs."""

import json
import re

import pandas as pd
import pytest

from mixpref.demo import run_demo
from mixpref.features.text_encoder import TextEncoder

from .features._helpers import ForwardCounter


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result = run_demo(out_dir=root / "demo", cache_dir=root / "cache", tracking_uri=uri, small=True)
    return root, uri, result


def test_demo_writes_report_plots_targets(demo):
    root, _, result = demo
    out = result.out_dir
    report = result.report.read_text()
    for png in ("heldout_by_k.png", "type_weights.png", "winrate_by_rule.png", "preference_matrix.png"):
        assert (out / png).stat().st_size > 1000 and png in report
    lines = result.targets.read_text().splitlines()
    assert len(lines) == result.metrics["n_pairs"] > 0
    assert {"prompt", "chosen", "rejected", "p_chosen"} <= set(json.loads(lines[0]))
    assert (out / "model").is_dir()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["heldout_loglik_mixture"] < 0


def test_demo_report_is_self_consistent_and_explains_itself(demo):
    _, _, result = demo
    out, report = result.out_dir, result.report.read_text()
    sel = pd.read_csv(out / "selection.csv")
    # the K-selection rule is stated, and the chosen K is the one the stated rule gives
    n_se = float(re.search(r"within (\S+) standard errors of the best K", report).group(1))
    gap = sel["heldout_ll"].max() - sel["heldout_ll"]
    assert result.n_types == sel.loc[gap <= n_se * sel["se"] + 1e-12, "k"].min()
    assert f"**Chosen: K = {result.n_types}.**" in report
    # one single-BT number: the K = 1 row of the selection table, and the mixture's is its K's row
    assert result.metrics["heldout_loglik_single"] == pytest.approx(sel.set_index("k").loc[1, "heldout_ll"])
    assert result.metrics["heldout_loglik_mixture"] == pytest.approx(sel.set_index("k").loc[result.n_types, "heldout_ll"])
    assert report.count("Single Bradley") + report.count("single Bradley") == 1
    # cycles counted on named relations in one table; Condorcet's relation is named
    relations = pd.read_csv(out / "relations.csv")
    assert relations["relation"].str.startswith(("raw", "pooled", "type majority")).all() and len(relations) == 3
    assert "`condorcet_chosen` refers to the type-majority relation" in report
    assert "cycle in their raw majority graph" not in report  # the old, unqualified count
    # every column of the rules table is defined, and every absent rule says why
    rules = pd.read_csv(out / "rules.csv")
    for col in rules.columns[1:]:
        generic = re.sub(r"type\d+_", "typeK_", col)
        assert f"`{generic}`:" in report, col
    import mixpref as mp

    for rule in set(mp.RULES) - set(rules["rule"]):
        assert re.search(rf"- `{rule}`: \w+", report), rule
    # names, not hashes: the lottery table shows the arguments' texts
    first = pd.read_csv(out / "first_topic_lottery.csv")
    assert first["text"].str.len().between(10, 80).all()


def test_demo_plots_read_on_their_own(demo):
    _, _, result = demo
    figs = result.figures
    ax = figs["heldout_by_k"].axes[0]
    assert all(float(t).is_integer() for t in ax.get_xticks()) and ax.get_legend() is not None
    assert ax.containers, "error bars"
    ax1, ax2 = figs["type_weights"].axes[:2]
    assert [t.get_text() for t in ax1.get_xticklabels()] == [f"type {i}" for i in range(result.n_types)]
    for a in (ax1, ax2):
        assert a.get_ylim()[0] == 0 and a.get_legend() is not None
    bars = figs["winrate_by_rule"].axes[0]
    assert bars.get_ylim()[0] == 0 and bars.get_legend() is not None and bars.get_title()
    matrix = figs["preference_matrix"].axes[0]
    assert "ban plastic water bottles: no bad for the economy" in matrix.get_title().replace("\n", " ")


def test_demo_logs_parent_and_nested_runs(demo):
    import mlflow

    _, uri, _ = demo
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["demo"])
    parents = runs[runs["tags.mlflow.parentRunId"].isna()]
    nested = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(parents) == 1
    assert set(nested["tags.mlflow.runName"]) >= {"select_n_types", "single_bt", "aggregate"}
    assert (nested["tags.mlflow.parentRunId"] == parents["run_id"].iloc[0]).all()
    assert parents["metrics.heldout_loglik_mixture"].notna().all()


def test_demo_interrupted_during_embedding_resumes_from_cache(tmp_path, monkeypatch):
    import mixpref as mp

    counters = []
    original = TextEncoder.load

    def load_and_count(self, *args, **kwargs):
        loaded = original(self, *args, **kwargs)
        if not getattr(self, "_test_counter", None):
            # the first encoder dies on its third forward pass; the rerun's only counts
            self._test_counter = ForwardCounter(self.model_, fail_on=3 if not counters else None)
            counters.append(self._test_counter)
        return loaded

    monkeypatch.setattr(TextEncoder, "load", load_and_count)
    kwargs = dict(out_dir=tmp_path / "demo", cache_dir=tmp_path / "cache", tracking_uri=False, small=True, embed_chunk_size=16)
    with pytest.raises(KeyboardInterrupt):
        run_demo(**kwargs)
    assert not list((tmp_path / "demo").glob("report.md"))
    result = run_demo(**kwargs)
    assert result.report.exists() and len(counters) == 2
    ukp = mp.datasets.load("ukpconvarg1")
    n_texts = len(ukp.select(prompts=ukp.prompts["prompt_id"][:4]).responses)
    # the rerun encoded only what the interrupted run had not stored (two chunks were stored)
    assert 0 < counters[1].rows <= n_texts - 32


def test_report_with_two_types(tmp_path):
    """The report's K > 1 branch: one number per model, both types in every table and plot."""
    import mixpref as mp
    from mixpref.demo_report import write_report
    from mixpref.reporting import Report

    pop = mp.synthetic.population(n_types=2, n_annotators=40, comparisons_per_annotator=40, dim=8, random_state=0)
    sel = mp.select_n_types(pop.data, pop.features, ks=(1, 2), refit=False, n_restarts=2, random_state=0)
    lls = sel.table.set_index("k")["heldout_ll"]
    mixture = sel.models[2]
    profile = mixture.profile(pop.data, pop.features)
    table = mp.compare_rules(profile)
    lottery = mp.aggregate(profile, "maximal_lottery")
    report = Report(tmp_path, "two types")
    write_report(report, pop.data, pop.data.summary(), sel, 2.0, float(lls[1]), mixture, float(lls[2]), profile,
                 table, lottery, "maximal_lottery", mp.to_dpo_pairs(lottery, pop.data), {"total_s": 1.0})
    text = report.write().read_text()
    assert f"held-out log-likelihood {lls[1]:.4f}" in text and f"K = 2: {lls[2]:.4f}" in text
    assert {"type0_vs_uniform", "type1_vs_uniform"} <= set(pd.read_csv(tmp_path / "rules.csv").columns)
    labels = [t.get_text() for t in report.figures["type_weights"].axes[0].get_xticklabels()]
    assert labels == ["type 0", "type 1"]
    legend = [t.get_text() for t in report.figures["winrate_by_rule"].axes[0].get_legend().get_texts()]
    assert legend[1:] == [f"type {i} (weight {w:.2f})" for i, w in enumerate(mixture.weights_)]

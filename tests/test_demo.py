"""The README's main job, on a small configuration: report, plots, targets and mlflow runs."""

import json

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

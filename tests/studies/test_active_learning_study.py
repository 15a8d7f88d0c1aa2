"""Smoke run of studies/active_learning.py (--small) into a temporary folder."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "studies" / "active_learning.py"


def _load():
    spec = importlib.util.spec_from_file_location("_active_learning_study", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_active_learning_small_run(tmp_path):
    out = tmp_path / "out"
    results = _load().main(["--small", "--out", str(out), "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                            "--parts", "population,population_real,population_real_variants,onboarding,decisions",
                            "--cache-dir", str(tmp_path / "cache")])
    report = (out / "report.md").read_text()
    assert report.startswith("# ") and "Onboarding" in report
    assert {p.name for p in out.glob("*.png")} >= {"population_ll.png", "onboarding_questions.png", "decision_support.png"}
    curves = results["population"][0]
    assert set(curves.objective) == {"random", "uncertainty", "reward", "type", "decision", "prediction"}
    assert curves.log_likelihood.between(-5, 0).all()
    # real text embeddings (UKPConvArg1, MiniLM, PCA): the same loop, and the design bound of each setting
    real_curves, _, _, bounds = results["population_real"]
    assert set(real_curves.objective) == set(curves.objective) and real_curves.log_likelihood.between(-5, 0).all()
    assert ((bounds.ratio > 0) & (bounds.ratio <= 1) & (bounds.certified_lower <= bounds.ratio)).all()
    assert (out / "population_design_bound.csv").exists() and "## 1d. Population learning on real" in report
    variants = results["population_real_variants"]
    assert set(variants.objective) == {"reward", "prediction"} and (variants.design_bound > 0).all()
    assert "## 1e. How much the saving depends" in report
    table, summary, ratio = results["onboarding"]
    assert np.isfinite(ratio) and len(table) == 8


def test_labels_to_reach_interpolates_between_rounds():
    import pandas as pd

    study = _load()
    curve = pd.DataFrame({"n_labels": [100, 200, 300], "value": [-0.7, -0.6, -0.5]})
    assert study.labels_to_reach(curve, -0.55) == pytest.approx(250)
    assert study.labels_to_reach(curve, -0.8) == 100
    assert np.isnan(study.labels_to_reach(curve, -0.4))


def test_decision_population_cycles_hinge_on_the_margin_computed_by_hand():
    study = _load()
    # weights 0.40/0.35/0.25 on the rank scores 2/1/0 of a cycle: on one pair the 0.40 type prefers by 2
    # steps and the other two by 1 step, so the margin is 0.6 tanh(s/2) - 0.4 tanh(s) at reward scale s
    for scale in (1.5, 3.0):
        pop = study.decision_population(6, 60, 16, scale, 0)
        closest = study.true_margins(pop).min(axis=1)[::2]  # the cycle prompts
        by_hand = 0.6 * np.tanh(scale / 2) - 0.4 * np.tanh(scale)
        assert np.allclose(closest, by_hand, atol=0.03)


def test_saving_table_per_seed_all_seed_median_and_seed_averaged_curve_by_hand():
    import pandas as pd

    study = _load()
    # seed 0: random ends at -0.5, "a" reaches it at 150 (half-way from -0.6 to -0.4); seed 1: random ends at
    # -0.6, "a" never gets there. Seed-averaged: random -> -0.55, "a" mean curve -0.7, -0.6, -0.5 reaches
    # -0.55 at 250.
    rows = [(0, "random", 100, -0.7), (0, "random", 200, -0.6), (0, "random", 300, -0.5),
            (0, "a", 100, -0.6), (0, "a", 200, -0.4), (0, "a", 300, -0.3),
            (1, "random", 100, -0.7), (1, "random", 200, -0.65), (1, "random", 300, -0.6),
            (1, "a", 100, -0.8), (1, "a", 200, -0.8), (1, "a", 300, -0.7)]
    curves = pd.DataFrame(rows, columns=["seed", "objective", "n_labels", "ll"])
    table, summary = study.saving_table(curves, "ll", 300)
    s = summary.set_index("objective")
    a = table[table.objective == "a"].set_index("seed")["fraction_of_budget"]
    assert a[0] == pytest.approx(150 / 300) and np.isnan(a[1])
    assert s.loc["a", "median"] == pytest.approx(0.5) and s.loc["a", "reached"] == 1
    assert s.loc["a", "median_all_seeds"] == np.inf  # (0.5, inf): the median of two counts the unreached seed
    assert s.loc["a", "seed_averaged"] == pytest.approx(250 / 300)
    assert s.loc["random", "seed_averaged"] == pytest.approx(1.0)
    assert "not met" in study.verdict(summary) and "`a`, 0.83x" in study.verdict(summary)
    # a clear saving on every seed and on the mean curve meets the target
    fast = curves.assign(ll=np.where(curves.objective == "a", 0.0, curves.ll))
    reading = study.verdict(study.saving_table(fast, "ll", 300)[1])
    assert "met." in reading and "not met" not in reading


@pytest.mark.slow
def test_population_with_another_pool_is_a_second_setting_reuses_saved_curves_and_profiles_selection(tmp_path):
    out = tmp_path / "out"
    args = ["--small", "--out", str(out), "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--parts",
            "population", "--population-objectives", "random,uncertainty"]
    study = _load()
    results = study.main(args[:-3] + ["population,population_selection"] + args[-2:])
    first = results["population"][0]
    # the selection profile replays the same loop: its last fit scores what the curve's last point says
    profile = results["population_selection"].dropna(subset=["final_log_likelihood"])
    for obj in ("random", "uncertainty"):
        mine = profile[(profile.objective == obj) & (profile["pool"] == 300)].final_log_likelihood.iloc[0]
        assert mine == pytest.approx(first[first.objective == obj].log_likelihood.iloc[-1], abs=1e-9)
    assert set(profile["pool"]) == {300, 1500}
    study.main(args + ["--population-pool", "400"])
    assert (out / "population_pool400_saving.csv").exists() and (out / "population_saving.csv").exists()
    report = (out / "report.md").read_text()
    assert report.index("## 1. Population learning") < report.index("## 1b. Population learning with a larger pool (400")
    # the saved curves are read back, not recomputed: same values
    again = study.main(args + ["--reuse-curves"])["population"][0]
    assert np.allclose(again.log_likelihood, first.log_likelihood)

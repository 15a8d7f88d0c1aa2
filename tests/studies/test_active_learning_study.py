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
                            "--parts", "population,onboarding,decisions"])
    report = (out / "report.md").read_text()
    assert report.startswith("# ") and "Onboarding" in report
    assert {p.name for p in out.glob("*.png")} >= {"population_ll.png", "onboarding_questions.png", "decision_support.png"}
    curves = results["population"][0]
    assert set(curves.objective) == {"random", "uncertainty", "reward", "type", "decision"}
    assert curves.log_likelihood.between(-5, 0).all()
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

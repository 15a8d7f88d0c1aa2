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

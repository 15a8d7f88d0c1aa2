"""The model studies run end to end with tiny arguments."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(relpath):
    spec = importlib.util.spec_from_file_location(relpath.replace("/", "_")[:-3], ROOT / relpath)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fit_benchmark_smoke(tmp_path):
    fit = _load("studies/benchmarks/fit.py")
    rows = fit.main(["--n", "2000", "--annotators", "40", "--dim", "8", "--adam-steps", "5", "--restarts", "1",
                     "--em-iters", "2", "--device", "cpu", "--json", str(tmp_path / "fit.json")])
    names = [r["fitter"] for r in rows]
    assert any(n.startswith("mixpref") for n in names) and any("hard EM" in n for n in names)
    assert (tmp_path / "fit.json").exists()


@pytest.mark.slow
def test_ukp_study_smoke(tmp_path):
    import numpy as np

    import mixpref as mp

    data = mp.datasets.load("ukpconvarg1")
    rng = np.random.default_rng(0)
    mp.Features(data.responses["response_id"], rng.normal(size=(len(data.responses), 8))).save(tmp_path / "f")
    study = _load("studies/ukp_models.py")
    results = study.main(["--features", str(tmp_path / "f"), "--ks", "1-2", "--restarts", "1", "--device", "cpu",
                          "--out", str(tmp_path / "out")])
    assert {r["split"] for r in results} == {"annotator", "observation"}
    assert (tmp_path / "out" / "report.md").exists()

"""studies/personalization.py --small: runs end to end into a temporary folder."""

import importlib.util
from pathlib import Path

STUDY = Path(__file__).resolve().parents[2] / "studies" / "personalization.py"
PAIRCOMP = Path(__file__).resolve().parents[3] / "shared" / "data" / "r_psychotools_paircomp" / "csv"


def test_personalization_small(tmp_path):
    spec = importlib.util.spec_from_file_location("personalization_study", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = ["--small", "--out", str(tmp_path / "out"), "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
    if PAIRCOMP.is_dir():
        args += ["--paircomp-dir", str(PAIRCOMP)]
    table = module.main(args)
    report = tmp_path / "out" / "report.md"
    assert report.exists() and report.read_text().startswith("# ")
    assert len(list((tmp_path / "out").glob("*.png"))) >= 3
    assert set(table.model) == {"single BT", "mixture", "mixture + shrinkage", "low-rank simplex", "low-rank free"}
    few = table[(table.split == "unseen annotators, few-shot") & (table.dataset == "discrete, sd=3.0")]
    curve = few[few.model == "mixture"].sort_values("shots").log_likelihood.to_numpy()
    assert curve[-1] > curve[0]  # adapting to a new annotator pays on a population with types

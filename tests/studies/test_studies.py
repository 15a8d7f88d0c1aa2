"""Every study's --small run, as the README's `mixpref study run NAME --small` would do it."""

from pathlib import Path

import pytest

from mixpref.studies_registry import STUDIES, load_study

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture
def study_args(tmp_path):
    return ["--small", "--out", str(tmp_path / "out"), "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]


def _run(name, args):
    module = load_study(name)
    result = module.main(args)
    report = Path(args[args.index("--out") + 1]) / "report.md"
    assert report.exists() and report.read_text().startswith("# ")
    assert list(report.parent.glob("*.png")), "a study writes at least one plot"
    return result


def test_every_registered_study_has_a_smoke_test():
    # the first five here; the others in their own files (tests/dpo/test_iterate.py and tests/studies/test_*_study.py)
    tested = {"curse", "aggregation_rules", "dpo_targets", "mixture_recovery", "real_annotators",
              "iterative", "personalization", "uncertainty", "active_learning"}
    from mixpref.studies_registry import REPO_ROOT, spec

    assert {name for name in STUDIES if spec(name).small} == tested
    # every study script in studies/ is registered (ukp_models has no --small run)
    scripts = {p.stem for p in (REPO_ROOT / "studies").glob("*.py")}
    assert scripts == set(STUDIES)


def test_curse(study_args):
    checks = _run("curse", study_args)
    for claim, value in checks.items():
        if "must be 0" in claim or "diff" in claim or "+ beta" in claim or "- beta" in claim:
            assert value < 1e-10, claim


def test_aggregation_rules(study_args):
    results = _run("aggregation_rules", study_args)
    mm, cyc = results["majority_minority"], results["condorcet_cycle"]
    # max-min protects the minority at least as well as majority rule does
    assert mm.loc["maxmin", "type1_vs_uniform"] >= mm.loc["majority", "type1_vs_uniform"]
    assert cyc.loc["maximal_lottery", "exploitability"] < 1e-6
    assert (cyc["cycle_prompts"] > 0).all()


def test_dpo_targets(study_args):
    results = _run("dpo_targets", study_args)
    for table in results.values():
        assert (table["mass_on_lottery_support"] > 0.9).all()
        assert (table["tv_to_lottery_soft"] < 0.05).all()


def test_mixture_recovery(study_args):
    table = _run("mixture_recovery", study_args)
    strong = table[table.logit_sd == table.logit_sd.max()]
    assert (strong.ari > 0.5).all()


def test_real_annotators(study_args, tmp_path):
    folder = SHARED / "r_psychotools_paircomp" / "csv"
    extra = ["--paircomp-dir", str(folder)] if folder.is_dir() else []
    dots = SHARED / "preflib_mturk_dots"
    if dots.is_dir():
        extra += ["--preflib-dots-dir", str(dots)]
    overview = _run("real_annotators", study_args + extra + ["--cache-dir", str(tmp_path / "cache")])
    assert len(overview) == (2 if folder.is_dir() else 1)

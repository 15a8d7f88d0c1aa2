"""The ``mixpref aggregate`` command and the benchmark script's smoke run."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

import mixpref as mp
from mixpref.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]


def _profile_file(tmp_path):
    rng = np.random.default_rng(0)
    prof = mp.Profile.from_rewards(
        rng.normal(size=(6, 2, 4)), weights=[0.6, 0.4], candidates=[[f"r{p}_{i}" for i in range(4)] for p in range(6)]
    )
    path = tmp_path / "profile.npz"
    prof.save(path)
    return prof, path


def test_cli_aggregate_writes_the_lottery(tmp_path, capsys):
    prof, path = _profile_file(tmp_path)
    out = tmp_path / "lottery.csv"
    code = cli_main(["aggregate", str(path), "--rule", "maximal_lottery", "--method", "selfplay", "--device", "cpu", "--out", str(out)])
    assert code == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["prompt_id", "response_id", "prob", "score", "rule"]
    assert len(frame) == 24 and frame["response_id"].iloc[0] == "r0_0"
    expected = mp.aggregate(prof, "maximal_lottery").to_frame()
    np.testing.assert_allclose(frame["prob"], expected["prob"], atol=1e-6)
    assert "maximal_lottery: 6 prompts" in capsys.readouterr().out


def test_cli_options_compare_and_errors(tmp_path, capsys):
    _, path = _profile_file(tmp_path)
    assert cli_main(["aggregate", str(path), "-r", "pooled", "-o", "temperature=0.5", "--out", str(tmp_path / "l.jsonl")]) == 0
    assert len(pd.read_json(tmp_path / "l.jsonl", lines=True)) == 24
    capsys.readouterr()
    assert cli_main(["aggregate", str(path), "--compare", "--rules", "borda,maxmin"]) == 0
    out = capsys.readouterr().out
    assert "worst_vs_uniform" in out and "maxmin" in out
    assert cli_main(["aggregate", str(path), "--rule", "plurality"]) == 2
    assert "expected one of" in capsys.readouterr().err
    assert cli_main(["aggregate", str(tmp_path / "missing.npz")]) == 2
    assert cli_main(["aggregate", str(path), "-r", "utilitarian", "-o", "utility=winrate", "--out", str(tmp_path / "x.txt")]) == 2
    assert cli_main(["aggregate", "--list-rules"]) == 0
    assert "maximal_lottery" in capsys.readouterr().out


def test_benchmark_smoke(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_aggregate", ROOT / "studies" / "benchmarks" / "aggregate.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"
    result = bench.main(["--prompts", "40", "--candidates", "4", "--lp-sample", "10", "--repeats", "1", "--device", "cpu", "--json", str(out)])
    assert result["selfplay_max_exploitability"] <= 1e-3
    assert result["max_l1_selfplay_vs_lp_on_sample"] <= 1e-2
    assert result["lp_extrapolated"] and out.exists()
    result = bench.main(["--prompts", "20", "--candidates", "5", "--kind", "voters", "--types", "3", "--repeats", "1", "--no-block-lp"])
    assert result["selfplay_max_exploitability"] <= 1e-3 and "block_lp_s" not in result

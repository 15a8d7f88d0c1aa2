import json

import pandas as pd
from typer.testing import CliRunner

import mixpref as mp
from mixpref.cli import app, main

runner = CliRunner()


def test_help_and_version():
    assert runner.invoke(app, ["--help"]).exit_code == 0
    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and mp.__version__ in out.output


def test_data_summary_on_a_file_with_column_options(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"q": ["p", "p"], "x": ["a1", "a2"], "y": ["a2", "a3"], "l": ["a", "b"], "who": ["u", "v"]}).to_csv(path, index=False)
    out = runner.invoke(
        app, ["data", "summary", str(path), "--prompt", "q", "--response-a", "x", "--response-b", "y", "--label", "l", "--annotator", "who", "--json"]
    )
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["n_comparisons"] == 2 and summary["n_annotators"] == 2


def test_user_mistakes_exit_2_with_one_line(tmp_path, capsys):
    assert main(["data", "summary", str(tmp_path / "missing.csv")]) == 2
    path = tmp_path / "d.csv"
    pd.DataFrame({"prompt": ["p"], "response_a": ["x"], "response_b": ["y"]}).to_csv(path, index=False)
    assert main(["data", "summary", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mixpref: error:") and "'label'" in err[-1]

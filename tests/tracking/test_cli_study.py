"""The `mixpref study` and `mixpref ui` commands."""

import json

import pytest

# mlflow's own SQLAlchemy store (the test's client) triggers this; mixpref's calls are quiet
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


@pytest.fixture
def cli():
    import typer
    from typer.testing import CliRunner

    from mixpref.cli.study import register

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_study_list_shows_registered_studies(cli):
    from mixpref.studies_registry import STUDIES

    result = cli("study", "list")
    assert result.exit_code == 0, result.output
    for name in ["curse", "mixture_recovery", "aggregation_rules", "real_annotators", "dpo_targets"]:
        assert name in STUDIES and name in result.output

def test_study_run_calls_main_with_small_and_extra_args(cli, tmp_path, monkeypatch):
    from mixpref import studies_registry

    script = tmp_path / "toy.py"
    script.write_text(
        "import json, pathlib\n"
        f"OUT = pathlib.Path({str(tmp_path / 'argv.json')!r})\n"
        "def main(argv):\n"
        "    OUT.write_text(json.dumps(argv))\n"
    )
    monkeypatch.setitem(studies_registry.STUDIES, "toy", (str(script), "a toy study"))
    result = cli("study", "run", "toy", "--small", "--data", "x.csv")
    assert result.exit_code == 0, result.output
    # --small writes to ./mixpref-runs/studies-small/NAME, never over the committed results (mixpref/cli/study.py)
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[:3] == ["--small", "--data", "x.csv"] and argv[3] == "--out"
    assert argv[4].endswith("mixpref-runs/studies-small/toy")

def test_study_run_user_errors_exit_2(cli, tmp_path, monkeypatch):
    from mixpref import studies_registry

    result = cli("study", "run", "no-such-study")
    assert result.exit_code == 2 and "unknown study 'no-such-study'" in result.output
    monkeypatch.setitem(studies_registry.STUDIES, "planned", (str(tmp_path / "planned.py"), "not written yet"))
    result = cli("study", "run", "planned")
    assert result.exit_code == 2 and "does not exist" in result.output
    assert "Traceback" not in result.output

def test_ui_runs_mlflow_ui_on_the_project_database(cli, tmp_path, monkeypatch):
    import mixpref.cli.study as study_cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MIXPREF_TRACKING_URI", raising=False)
    result = cli("ui")
    assert result.exit_code == 2 and "no mlflow database" in result.output

    (tmp_path / "mixpref-runs").mkdir()
    (tmp_path / "mixpref-runs" / "mlflow.db").touch()
    commands = []
    monkeypatch.setattr(study_cli, "_run_forwarding_signals", lambda command: commands.append(command) or 0)
    result = cli("ui", "--port", "5123")
    assert result.exit_code == 0, result.output
    command = commands[0]
    assert command[1:4] == ["-m", "mlflow", "ui"]
    assert command[command.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path}/mixpref-runs/mlflow.db"
    assert command[command.index("--port") + 1] == "5123"

"""mixpref.tracking: parent/nested mlflow runs, active-study semantics, and robustness.

mlflow creates a sqlite database in seconds (schema migrations), so every test that needs a
working database shares one (module-scoped) and uses its own study name.
"""

import json
import sqlite3
import subprocess
import sys
import textwrap
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from mixpref import tracking  # noqa: E402
from mixpref.tracking import MixprefTrackingWarning, Study, active_run, active_study, log_to  # noqa: E402


# mlflow's own SQLAlchemy store (the test's client) triggers this; mixpref's calls are quiet
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def client(tracking_uri):
    mlflow = pytest.importorskip("mlflow")
    return mlflow.MlflowClient(tracking_uri=tracking_uri)


def search_runs(tracking_uri, name):
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        return mlflow.search_runs(experiment_names=[name])
    finally:
        mlflow.set_tracking_uri(previous)


def tracking_warnings(record):
    return [w for w in record if issubclass(w.category, MixprefTrackingWarning)]


def make_figure():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1, 2], [2, 1, 0])
    return fig


def log_everything(study, run_names=("k=1", "k=3")):
    """A small study: what every test below checks, locally and in mlflow."""
    study.log_params({"model": "mixture-bt", "inference": {"name": "map", "steps": 50}})
    study.log_dataset(pd.DataFrame({"a": [0, 1, 2], "b": [1, 2, 0], "label": [1, 0, 1]}), name="toy", context="training")
    study.set_tags({"dataset": "toy"})
    for k in run_names:
        with study.run(k, params={"k": int(k.split("=")[1])}) as run:
            run.log_metrics({"loss": [3.0, 2.0, 1.5], "heldout_loglik": -0.6})
            run.log_metrics({"ari": 0.9}, step=7)
            run.log_figure(make_figure(), "curve")
            run.log_table(pd.DataFrame({"rule": ["borda", "copeland"], "win_rate": [0.6, 0.4]}), "rules")
    return "fit finished"


def test_parent_and_nested_runs_are_logged(tmp_path, tracking_uri, client):
    with warnings.catch_warnings():
        warnings.simplefilter("error", MixprefTrackingWarning)  # a healthy database warns about nothing
        with Study("nested", tracking_uri=tracking_uri, output_dir=tmp_path / "out") as study:
            log_everything(study)

    runs = search_runs(tracking_uri, "nested")
    assert len(runs) == 3
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(parent) == 1 and parent["tags.mlflow.runName"].item() == "nested"
    parent_id = parent["run_id"].item()
    assert parent_id == study.run_id
    assert set(children["tags.mlflow.parentRunId"]) == {parent_id}
    assert sorted(children["tags.mlflow.runName"]) == ["k=1", "k=3"]
    assert set(runs["status"]) == {"FINISHED"}
    assert sorted(children["params.k"]) == ["1", "3"]
    assert parent["params.inference.steps"].item() == "50"
    assert parent["tags.dataset"].item() == "toy"

    child_id = children[children["tags.mlflow.runName"] == "k=3"]["run_id"].item()
    history = client.get_metric_history(child_id, "loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [(0, 3.0), (1, 2.0), (2, 1.5)]
    assert [(m.step, m.value) for m in client.get_metric_history(child_id, "ari")] == [(7, 0.9)]
    artifacts = {a.path for a in client.list_artifacts(child_id)}
    assert {"curve.png", "rules.csv"} <= artifacts
    png = client.download_artifacts(child_id, "curve.png", str(tmp_path))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    inputs = client.get_run(parent_id).inputs.dataset_inputs
    assert [d.dataset.name for d in inputs] == ["toy"]
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"

    # the experiment keeps its artifacts beside the database, not in the working directory
    experiment = client.get_experiment(study.experiment_id)
    assert experiment.artifact_location.startswith("file://")
    assert experiment.artifact_location.endswith("/artifacts")

    out = tmp_path / "out"
    assert (out / "k=3" / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert pd.read_csv(out / "k=3" / "rules.csv")["win_rate"].tolist() == [0.6, 0.4]
    metrics = pd.read_csv(out / "k=3" / "metrics.csv")
    assert metrics[metrics.key == "loss"]["value"].tolist() == [3.0, 2.0, 1.5]
    info = json.loads((out / "tracking.json").read_text())
    assert info["run_id"] == parent_id and info["status"] == "FINISHED" and info["not_logged"] == []


def test_same_study_name_reuses_the_experiment(tmp_path, tracking_uri, client):
    ids = []
    for _ in range(2):
        with Study("twice", tracking_uri=tracking_uri, output_dir=tmp_path) as study:
            study.log_metrics({"x": 1.0})
        ids.append(study.experiment_id)
    assert ids[0] == ids[1]
    assert len(search_runs(tracking_uri, "twice")) == 2


def test_active_study_semantics(tmp_path, tracking_uri, client):
    assert active_study() is None and active_run() is None
    assert log_to(None, metrics={"loss": 1.0}) is None  # nothing active: a no-op
    with Study("outer", tracking_uri=tracking_uri, output_dir=tmp_path / "outer") as outer:
        assert active_study() is outer and active_run() is outer
        with outer.run("seed=0") as run:
            assert active_run() is run
            # a fit called with study=None logs into the innermost run of the active study
            assert log_to(None, metrics={"from_fit": 2.0}, params={"lr": 0.1}) is run
            assert log_to(outer, metrics={"via_study": 3.0}) is run
            assert log_to(False, metrics={"never": 1.0}) is None
        assert active_run() is outer
        with Study("inner", tracking_uri=tracking_uri, output_dir=tmp_path / "inner") as inner:
            assert active_study() is inner
        assert active_study() is outer
    assert active_study() is None

    runs = search_runs(tracking_uri, "outer")
    child = runs[runs["tags.mlflow.runName"] == "seed=0"]
    assert child["metrics.from_fit"].item() == 2.0
    assert child["metrics.via_study"].item() == 3.0
    assert child["params.lr"].item() == "0.1"
    assert "metrics.never" not in runs.columns


def test_exception_marks_runs_failed_and_propagates(tmp_path, tracking_uri, client):
    with pytest.raises(ZeroDivisionError):
        with Study("crash", tracking_uri=tracking_uri, output_dir=tmp_path) as study:
            with study.run("k=2") as run:
                run.log_metrics({"loss": [2.0, 1.0]})
                1 / 0
    assert active_study() is None
    runs = search_runs(tracking_uri, "crash")
    assert set(runs["status"]) == {"FAILED"}
    # the metrics logged before the crash are on disk
    assert pd.read_csv(tmp_path / "k=2" / "metrics.csv")["value"].tolist() == [2.0, 1.0]


@pytest.mark.parametrize("where", ["parent-is-a-file", "proc"])
def test_unwritable_uri_warns_once_and_keeps_local_outputs(tmp_path, where):
    if where == "parent-is-a-file":  # tests run as root, so chmod cannot make a folder unwritable
        (tmp_path / "afile").write_text("not a folder")
        uri = f"sqlite:///{tmp_path / 'afile' / 'mlflow.db'}"
    else:
        uri = "sqlite:////proc/forbidden/mlflow.db"
    out = tmp_path / "out"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with Study("unwritable", tracking_uri=uri, output_dir=out) as study:
            result = log_everything(study)
    assert result == "fit finished"
    caught = tracking_warnings(record)
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert "nothing of this study is logged" in message and str(out) in message
    assert study.run_id is None
    for name in ("params.json", "datasets.json", "tags.json", "k=1/metrics.csv", "k=3/curve.png", "k=3/rules.csv"):
        assert (out / name).is_file(), name
    info = json.loads((out / "tracking.json").read_text())
    assert info["not_logged"][0]["kind"] == "tracking"


def test_locked_database_warns_and_keeps_local_outputs(tmp_path, monkeypatch):
    db = tmp_path / "locked.db"
    holder = sqlite3.connect(db)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    monkeypatch.setattr(tracking, "_SQLITE_PROBE_TIMEOUT", 0.05)
    try:
        with pytest.warns(MixprefTrackingWarning, match="locked"):
            with Study("locked", tracking_uri=f"sqlite:///{db}", output_dir=tmp_path / "out") as study:
                study.log_metrics({"loss": [1.0, 0.5]})
    finally:
        holder.rollback()
        holder.close()
    assert pd.read_csv(tmp_path / "out" / "metrics.csv")["value"].tolist() == [1.0, 0.5]


def test_mlflow_import_error_warns_and_keeps_local_outputs(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now raises ImportError
    with pytest.warns(MixprefTrackingWarning, match="import of mlflow"):
        with Study("no-mlflow", tracking_uri=f"sqlite:///{tmp_path / 'm.db'}", output_dir=tmp_path / "out") as study:
            log_everything(study, run_names=("k=2",))
    assert (tmp_path / "out" / "k=2" / "curve.png").is_file()


def test_failure_in_the_middle_warns_once_per_kind_and_continues(tmp_path, tracking_uri, client, monkeypatch):
    import mlflow

    original = mlflow.MlflowClient.log_batch

    def log_batch(self, run_id, metrics=(), params=(), tags=(), *args, **kwargs):
        if metrics:
            raise OSError(28, "No space left on device")
        return original(self, run_id, metrics=metrics, params=params, tags=tags, *args, **kwargs)

    monkeypatch.setattr(mlflow.MlflowClient, "log_batch", log_batch)
    out = tmp_path / "out"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with Study("middle", tracking_uri=tracking_uri, output_dir=out) as study:
            result = log_everything(study)
    assert result == "fit finished"
    caught = [str(w.message) for w in tracking_warnings(record)]
    assert len(caught) == 1 and "metrics" in caught[0] and "No space left" in caught[0], caught

    runs = search_runs(tracking_uri, "middle")
    assert len(runs) == 3 and set(runs["status"]) == {"FINISHED"}
    assert not any(c.startswith("metrics.") for c in runs.columns)  # metrics failed ...
    assert sorted(runs["params.k"].dropna()) == ["1", "3"]  # ... params and artifacts did not
    child_id = runs[runs["tags.mlflow.runName"] == "k=1"]["run_id"].item()
    assert "curve.png" in {a.path for a in client.list_artifacts(child_id)}
    # everything is on disk, and the failures are listed
    assert pd.read_csv(out / "k=1" / "metrics.csv")["key"].tolist() == ["loss"] * 3 + ["heldout_loglik", "ari"]
    kinds = {f["kind"] for f in json.loads((out / "tracking.json").read_text())["not_logged"]}
    assert kinds == {"metrics"}


def test_repeated_failures_stop_calling_mlflow(tmp_path, tracking_uri, client, monkeypatch):
    import mlflow

    calls = []

    def broken(self, *args, **kwargs):
        calls.append(1)
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(mlflow.MlflowClient, "log_batch", broken)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with Study("giving-up", tracking_uri=tracking_uri, output_dir=tmp_path) as study:
            for step in range(10):
                study.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
    assert len(calls) == tracking._MAX_CONSECUTIVE_FAILURES
    messages = [str(w.message) for w in tracking_warnings(record)]
    assert len(messages) == 2 and "in a row" in messages[1], messages
    assert len(pd.read_csv(tmp_path / "metrics.csv")) == 10


def test_logging_never_raises_into_user_code(tmp_path, tracking_uri, client):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with Study("bad-input", tracking_uri=tracking_uri, output_dir=tmp_path) as study:
            study.log_metrics({"loss": "not a number"})
            study.log_artifact(tmp_path / "does-not-exist.txt")
            study.log_figure(object(), "not-a-figure")
            study.log_metrics({"ok": np.float32(0.5), "series": pd.Series([1.0, 2.0], index=[10, 20])})
    kinds = {f[0] for f in study.failures}
    assert kinds == {"metrics", "artifacts", "local"}
    assert len(tracking_warnings(record)) == 3
    runs = search_runs(tracking_uri, "bad-input")
    assert runs["metrics.ok"].item() == 0.5
    history = client.get_metric_history(study.run_id, "series")
    assert sorted((m.step, m.value) for m in history) == [(10, 1.0), (20, 2.0)]


def test_tracking_false_writes_local_only_without_warnings(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", MixprefTrackingWarning)
        with Study("offline", tracking_uri=False, output_dir=tmp_path) as study:
            log_everything(study, run_names=("k=1",))
    assert study.tracking_uri is None and study.run_id is None
    assert (tmp_path / "k=1" / "rules.csv").is_file()


def test_default_locations(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MIXPREF_TRACKING_URI", raising=False)
    study = Study("demo")
    assert study.tracking_uri == f"sqlite:///{tmp_path}/mixpref-runs/mlflow.db"
    assert study.artifact_dir == tmp_path / "mixpref-runs" / "artifacts"
    assert study.output_dir == tmp_path / "mixpref-runs" / "demo"
    # a path without a scheme is a sqlite database or a folder holding mlflow.db
    assert Study("x", tracking_uri=tmp_path / "runs").tracking_uri == f"sqlite:///{tmp_path}/runs/mlflow.db"
    assert Study("x", tracking_uri="rel.db").tracking_uri == f"sqlite:///{tmp_path}/rel.db"
    assert Study("x", tracking_uri="http://host:5000").artifact_dir is None
    monkeypatch.setenv("MIXPREF_TRACKING_URI", str(tmp_path / "elsewhere.db"))
    assert Study("x").tracking_uri == f"sqlite:///{tmp_path}/elsewhere.db"


def test_mlflow_is_imported_only_when_a_study_is_entered():
    code = textwrap.dedent(
        """
        import sys
        import mixpref as mp
        from mixpref.tracking import log_to
        study = mp.Study("never-entered", tracking_uri=False)
        log_to(None, metrics={"loss": 1.0})
        assert "mlflow" not in sys.modules, "mlflow imported too early"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------ CLI


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
    assert json.loads((tmp_path / "argv.json").read_text()) == ["--small", "--data", "x.csv"]


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


def test_unwritable_output_dir_warns_and_still_logs_to_mlflow(tmp_path, tracking_uri, client):
    (tmp_path / "afile").write_text("not a folder")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with Study("no-local", tracking_uri=tracking_uri, output_dir=tmp_path / "afile" / "out") as study:
            study.log_params({"k": 2})
            study.log_metrics({"loss": [2.0, 1.0]})
            assert study.log_figure(make_figure(), "curve") is None
    messages = [str(w.message) for w in tracking_warnings(record)]
    assert len(messages) == 1 and "could not write" in messages[0], messages
    runs = search_runs(tracking_uri, "no-local")
    assert runs["params.k"].item() == "2" and runs["metrics.loss"].item() == 1.0


def test_fits_and_aggregations_log_to_the_active_study(tmp_path):
    import numpy as np

    import mixpref as mp

    pop = mp.synthetic.population(n_types=2, n_annotators=20, comparisons_per_annotator=20, dim=4, random_state=0)
    with mp.Study("active", tracking_uri=False, output_dir=tmp_path / "active") as study:
        mp.MixtureBT(n_types=2, n_restarts=1, max_steps=20).fit(pop.data, pop.features)
        mp.aggregate(mp.Profile.from_rewards(np.random.default_rng(0).normal(size=(3, 2, 4)), [0.5, 0.5]), "borda")
        explicit = mp.BradleyTerry(max_steps=20).fit(pop.data, pop.features, study=False)
    metrics = (tmp_path / "active" / "metrics.csv").read_text()
    params = (tmp_path / "active" / "params.json").read_text()
    assert "MixtureBT.train_objective" in metrics and "MixtureBT.weight_1" in metrics and "borda.exploitability" in metrics
    assert "MixtureBT.n_types" in params and "BradleyTerry" not in metrics
    assert explicit.objective_ < 0

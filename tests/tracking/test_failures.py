"""A failure to log warns once per kind, never raises, and keeps the local outputs."""

import json
import sqlite3
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import mixpref.tracking.study as study_module
import mixpref.tracking.uris as uris
from mixpref.tracking import MixprefTrackingWarning, Study

from ._helpers import log_everything, make_figure, search_runs, tracking_warnings

# mlflow's own SQLAlchemy store (the test's client) triggers this; mixpref's calls are quiet
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


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
    monkeypatch.setattr(uris, "SQLITE_PROBE_TIMEOUT", 0.05)
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
        return original(self, run_id, *args, metrics=metrics, params=params, tags=tags, **kwargs)

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
    assert len(calls) == study_module.MAX_CONSECUTIVE_FAILURES
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

"""Parent and nested runs in mlflow and their local copies; offline studies."""

import json
import warnings

import pandas as pd
import pytest

from mixpref.tracking import MixprefTrackingWarning, Study, active_study

from ._helpers import log_everything, search_runs

# mlflow's own SQLAlchemy store (the test's client) triggers this; mixpref's calls are quiet
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


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

def test_exception_marks_runs_failed_and_propagates(tmp_path, tracking_uri, client):
    with pytest.raises(ZeroDivisionError):
        with Study("crash", tracking_uri=tracking_uri, output_dir=tmp_path) as study:
            with study.run("k=2") as run:
                run.log_metrics({"loss": [2.0, 1.0]})
                _ = 1 / 0
    assert active_study() is None
    runs = search_runs(tracking_uri, "crash")
    assert set(runs["status"]) == {"FAILED"}
    # the metrics logged before the crash are on disk
    assert pd.read_csv(tmp_path / "k=2" / "metrics.csv")["value"].tolist() == [2.0, 1.0]

def test_tracking_false_writes_local_only_without_warnings(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", MixprefTrackingWarning)
        with Study("offline", tracking_uri=False, output_dir=tmp_path) as study:
            log_everything(study, run_names=("k=1",))
    assert study.tracking_uri is None and study.run_id is None
    assert (tmp_path / "k=1" / "rules.csv").is_file()

"""The active study, its innermost run, and where ``study=`` sends a log."""

import pytest

from mixpref.tracking import Study, active_run, active_study, log_to

from ._helpers import search_runs

# mlflow's own SQLAlchemy store (the test's client) triggers this; mixpref's calls are quiet
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


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

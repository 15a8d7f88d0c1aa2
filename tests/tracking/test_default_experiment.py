"""A study leaves no empty "Default" experiment behind in a database it creates.

mlflow's sqlite store inserts experiment 0 "Default" whenever it opens a database without
one; a study that created the database soft-deletes it while it is empty, so the UI and
``search_experiments`` show only the studies. A database someone else made keeps its Default.
"""

import pytest

from mixpref.tracking import Study

# mlflow's own SQLAlchemy store (the test's client) triggers this; mixpref's calls are quiet
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


def _experiment_names(uri, view="active"):
    import mlflow
    from mlflow.entities import ViewType

    client = mlflow.MlflowClient(tracking_uri=uri)
    view_type = ViewType.ACTIVE_ONLY if view == "active" else ViewType.ALL
    return sorted(e.name for e in client.search_experiments(view_type=view_type))


def _fluent_search_experiments(uri):
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        return sorted(e.name for e in mlflow.search_experiments())
    finally:
        mlflow.set_tracking_uri(previous)


def test_a_new_database_holds_only_the_named_experiments(tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"
    with Study("first", tracking_uri=uri, output_dir=tmp_path / "out1") as study:
        study.log_metrics({"x": 1.0})
    assert _fluent_search_experiments(uri) == ["first"]
    # a later study on the same database (and a later process's store) does not bring it back
    with Study("second", tracking_uri=uri, output_dir=tmp_path / "out2"):
        pass
    assert _experiment_names(uri) == ["first", "second"]
    assert _experiment_names(uri, view="all") == ["Default", "first", "second"]  # hidden, not gone
    # what the docstring tells a user who wants it back (for runs started without an experiment)
    client = mlflow.MlflowClient(tracking_uri=uri)
    client.restore_experiment("0")
    run = client.create_run("0")
    assert client.get_run(run.info.run_id).info.experiment_id == "0"
    assert _experiment_names(uri) == ["Default", "first", "second"]


def test_a_database_made_elsewhere_keeps_its_default(tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'theirs.db'}"
    mlflow.MlflowClient(tracking_uri=uri).search_experiments()  # someone else's database, empty Default
    with Study("mine", tracking_uri=uri, output_dir=tmp_path / "out"):
        pass
    assert _experiment_names(uri) == ["Default", "mine"]

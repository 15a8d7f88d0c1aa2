"""Where a study logs by default, URIs without a scheme, and mlflow imported only when needed."""

import subprocess
import sys
import textwrap

import pytest

from mixpref.tracking import Study

# mlflow's own SQLAlchemy store (the test's client) triggers this; mixpref's calls are quiet
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


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
    # file: URIs (mlflow's old file store, refused by mlflow >= 3.13) get a sqlite database in that
    # folder; "file:/dir" once became a folder literally named "file:" in the working directory
    for uri in (f"file:{tmp_path}/old", f"file://{tmp_path}/old"):
        assert Study("x", tracking_uri=uri).tracking_uri == f"sqlite:///{tmp_path}/old/mlflow.db"
    assert not (tmp_path / "file:").exists()
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

"""mlflow creates a sqlite database in seconds (schema migrations), so every test here that
needs a working database shares one (session-scoped) and uses its own study name."""

import pytest

# mlflow's own SQLAlchemy store (the test's client) triggers this; mixpref's calls are quiet
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow-tracking') / 'mlflow.db'}"


@pytest.fixture(scope="session")
def client(tracking_uri):
    mlflow = pytest.importorskip("mlflow")
    return mlflow.MlflowClient(tracking_uri=tracking_uri)

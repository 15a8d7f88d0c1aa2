"""Suite-wide settings: nothing a test logs lands in the repository's mixpref-runs/."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _scratch_tracking_uri(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow")
    old = os.environ.get("MIXPREF_TRACKING_URI")
    os.environ["MIXPREF_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    yield
    if old is None:
        os.environ.pop("MIXPREF_TRACKING_URI", None)
    else:
        os.environ["MIXPREF_TRACKING_URI"] = old

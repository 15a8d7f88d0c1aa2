"""What the tracking tests share: a small study that logs everything, and mlflow look-ups."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from mixpref.tracking import MixprefTrackingWarning


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

"""How a CLI command logs to mlflow: one run named after the command and the data file.

Results are written to their files first; logging comes after and never fails a command
(a failing or unwritable tracking URI only warns, see :class:`mixpref.Study`).
"""

from __future__ import annotations

from pathlib import Path

from .options import data_name

TRACKING_HELP = "mlflow URI (default sqlite:///./mixpref-runs/mlflow.db or $MIXPREF_TRACKING_URI; 'none' disables)."


def tracking_off(tracking_uri) -> bool:
    return isinstance(tracking_uri, str) and tracking_uri.lower() in ("none", "off", "false")


def run_name(command: str, data) -> str:
    """``"fit prefs.csv"``: the command and the data it read.

    Examples
    --------
    >>> run_name("fit", "data/mt_bench.csv")
    'fit mt_bench.csv'
    """
    return f"{command} {data_name(data)}" if data is not None else command


def scalar_metrics(metrics: dict) -> dict:
    """The numbers of ``metrics`` (lists, strings and booleans stay in metrics.json only)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def log_command(command, data, params=None, metrics=None, per_k=None, tracking_uri=None, output_dir=None,
                artifacts=(), model_dir=None):
    """Log one CLI command as an mlflow run; returns the Study (or None when tracking is off).

    Parameters
    ----------
    command : str
        ``fit``, ``select``, ``aggregate``, ``export``.
    data : str or None
        The data file or bundled name (the run is named after it).
    params, metrics : dict
        Parameters; scalar metrics (each key once).
    per_k : DataFrame, optional
        A selection table (column ``k``): every other numeric column is logged as a metric
        series with step = K (``heldout_ll`` at step 1, 2, ...).
    tracking_uri : str, optional
        None: the default; 'none' turns logging off.
    output_dir : path-like, optional
        The local copy of what is logged; default next to the sqlite database (or
        ``./mixpref-runs``), never beside the user's output files.
    """
    if tracking_off(tracking_uri):
        return None
    from ..tracking import Study, resolve_tracking_uri, sqlite_path
    from ..tracking.uris import safe_name

    name = run_name(command, data)
    uri = resolve_tracking_uri(tracking_uri)
    if output_dir is None:
        db = sqlite_path(uri)
        if db is not None:
            output_dir = db.parent / "runs" / safe_name(name)
    with Study(name, tracking_uri=uri, output_dir=output_dir) as study:
        study.set_tags({"mixpref.command": command, "mixpref.data": str(data)})
        if params:
            study.log_params({k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in params.items()
                              if v is not None})
        if metrics:
            study.log_metrics(scalar_metrics(metrics))
        if per_k is not None and len(per_k):
            table = per_k.set_index("k")
            study.log_metrics({col: table[col].astype(float) for col in table.columns
                               if table[col].dtype.kind in "fiu" and table[col].notna().any()})
        for path in artifacts:
            if Path(path).exists():
                study.log_artifact(path)
        if model_dir is not None:
            study.log_model_dir(model_dir)
    return study

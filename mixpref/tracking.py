"""mlflow studies: one parent run per study, nested runs per configuration or seed.

A :class:`Study` writes every output to a local folder first (``mixpref-runs/<name>/`` by
default) and then logs it to mlflow. Tracking is a convenience, never a dependency of the
computation: if mlflow cannot be imported, the database is locked or unwritable, the disk
is full or the URI is wrong, the computation goes on, the local files are still written,
and one :class:`MixprefTrackingWarning` per kind of failure says what was not logged.

mlflow is imported only when a study is entered, so ``import mixpref`` (and every stage
used without a study) never imports it.

Fits and aggregations take ``study=`` and call :func:`log_to`; ``study=None`` means "the
active study, if any" (:func:`active_study`), ``study=False`` means "do not log".
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import sqlite3
import sys
import time
import warnings
from pathlib import Path

from ._io import atomic_path, json_safe

__all__ = [
    "MixprefTrackingWarning",
    "Run",
    "Study",
    "active_run",
    "active_study",
    "default_tracking_uri",
    "log_to",
    "resolve_study",
    "resolve_tracking_uri",
    "sqlite_path",
]

RUNS_FOLDER = "mixpref-runs"
DB_NAME = "mlflow.db"
# overrides the default tracking URI (not an explicit tracking_uri=)
TRACKING_URI_ENV = "MIXPREF_TRACKING_URI"

# mlflow's own batch limits (mlflow.utils.validation); larger batches are split
_MAX_PARAMS_PER_BATCH = 100
_MAX_METRICS_PER_BATCH = 1000
_MAX_PARAM_LENGTH = 6000
_MAX_TAG_LENGTH = 8000
# after this many failed mlflow calls in a row the study stops calling mlflow: a locked
# database costs its full lock timeout on every call, which would stall the computation
_MAX_CONSECUTIVE_FAILURES = 3
# local metrics.csv is rewritten (atomically) at most this often, and always at run end
_METRICS_FLUSH_SECONDS = 1.0
# how long the start-up probe waits for a locked sqlite database
_SQLITE_PROBE_TIMEOUT = 5.0
# how long the start-up probe waits for an http(s) tracking server
_HTTP_PROBE_TIMEOUT = 5.0

_ACTIVE_STUDIES: list[Study] = []


class MixprefTrackingWarning(UserWarning):
    """Something was not logged to mlflow (the computation and local outputs are unaffected)."""


# --------------------------------------------------------------------------- URIs


def default_tracking_uri(root=None) -> str:
    """The project's mlflow database: ``sqlite:///<root>/mixpref-runs/mlflow.db``.

    Parameters
    ----------
    root : path-like, optional
        Project folder; the current working directory by default.

    Examples
    --------
    >>> default_tracking_uri("/tmp/project")
    'sqlite:////tmp/project/mixpref-runs/mlflow.db'
    """
    root = Path.cwd() if root is None else Path(root)
    return _sqlite_uri(root.absolute() / RUNS_FOLDER / DB_NAME)


def _sqlite_uri(path: Path) -> str:
    # sqlite:/// + an absolute POSIX path gives the four slashes of sqlite:////tmp/x.db
    return "sqlite:///" + Path(path).absolute().as_posix()


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (absolute), or None for other URIs.

    Examples
    --------
    >>> sqlite_path("sqlite:////tmp/x/mlflow.db")
    PosixPath('/tmp/x/mlflow.db')
    >>> sqlite_path("http://localhost:5000") is None
    True
    """
    if not isinstance(uri, str) or not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path).absolute()


def resolve_tracking_uri(tracking_uri=None) -> str:
    """The explicit mlflow URI a study uses for ``tracking_uri``.

    None means ``$MIXPREF_TRACKING_URI`` when set (tests and CI point it at a scratch
    database), else the project's database in the working directory. A path without a
    scheme is a sqlite file (``*.db``) or a folder holding ``mlflow.db``; relative sqlite
    paths are made absolute.

    Examples
    --------
    >>> resolve_tracking_uri("/tmp/runs")
    'sqlite:////tmp/runs/mlflow.db'
    """
    if tracking_uri is None:
        tracking_uri = os.environ.get(TRACKING_URI_ENV) or None
    if tracking_uri is None:
        return default_tracking_uri()
    if isinstance(tracking_uri, os.PathLike) or "://" not in str(tracking_uri):
        path = Path(tracking_uri)
        if path.suffix not in (".db", ".sqlite", ".sqlite3"):
            path = path / DB_NAME
        return _sqlite_uri(path)
    path = sqlite_path(tracking_uri)
    if path is not None:  # relative sqlite paths are made absolute so a later chdir is harmless
        query = tracking_uri.split("?", 1)[1] if "?" in tracking_uri else ""
        return _sqlite_uri(path) + (f"?{query}" if query else "")
    return str(tracking_uri)


def _probe_sqlite(path: Path) -> None:
    """Fail fast when the database cannot be created or written.

    mlflow retries a failing engine for about 100 s (``create_sqlalchemy_engine_with_retry``);
    a direct sqlite write-lock attempt answers in milliseconds (or after the lock timeout).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=_SQLITE_PROBE_TIMEOUT)
    try:
        conn.execute("PRAGMA schema_version")  # reads the header: "file is not a database"
        conn.execute("BEGIN IMMEDIATE")
        conn.rollback()
    finally:
        conn.close()


def _probe_http(uri: str) -> None:
    """Fail fast when a tracking server does not answer.

    mlflow retries an unreachable server with exponential backoff for minutes; any HTTP
    answer (even 401/404) means the server is there and mlflow can take over.
    """
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=_HTTP_PROBE_TIMEOUT).close()
    except urllib.error.HTTPError:
        pass


def _safe_name(name: str) -> str:
    """A file/folder name for a study or run name (keeps it readable)."""
    cleaned = re.sub(r"[^\w.\-=+,@ ]+", "_", str(name)).strip(" .")
    return cleaned or "run"


def _safe_key(key) -> str:
    """An mlflow param/metric key: only alphanumerics, ``_ - . / : space`` are accepted."""
    return re.sub(r"[^\w.\- /:]", "_", str(key))


@contextlib.contextmanager
def _quiet():
    """Keep mlflow's and alembic's INFO chatter and mlflow's own warnings out of the user's console."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic", "sqlalchemy")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


# ---------------------------------------------------------------- value handling


def _flatten(mapping, prefix=""):
    out = {}
    for key, value in (mapping or {}).items():
        key = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, prefix=f"{key}."))
        else:
            out[key] = value
    return out


def _to_numpy(value):
    import numpy as np

    if hasattr(value, "detach"):  # torch tensors, without importing torch
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float)


def _metric_points(metrics, step):
    """(key, value, step) triples, and the (key, error) of values that are not numbers.

    A sequence value is a per-step series starting at ``step``; a pandas Series with an
    integer index is logged at the steps of its index.
    """
    points, bad = [], []
    start = 0 if step is None else int(step)
    for key, value in _flatten(metrics).items():
        try:
            steps = None
            if hasattr(value, "index") and hasattr(value, "to_numpy"):  # pandas Series
                if getattr(value.index.dtype, "kind", "") in ("i", "u"):
                    steps = [int(s) for s in value.index]
                value = value.to_numpy()
            array = _to_numpy(value)
        except Exception as err:
            bad.append((key, err))
            continue
        if array.ndim == 0:
            points.append((key, float(array), start))
            continue
        array = array.reshape(-1)
        if steps is None:
            steps = range(start, start + len(array))
        points.extend((key, float(v), int(s)) for v, s in zip(array, steps))
    return points, bad


# ----------------------------------------------------------------- the scopes


class _Scope:
    """What a study and its runs share: a local folder, an mlflow run id, the log_* methods."""

    def __init__(self, name):
        self.name = str(name)
        self.run_id = None
        self._params = {}
        self._tags = {}
        self._metrics = []
        self._datasets = []
        self._metrics_written_at = -math.inf
        self._metrics_dirty = False
        self._children_names = set()

    # ---- subclasses provide
    @property
    def study(self) -> Study:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def output_dir(self) -> Path:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- nested runs
    def run(self, name, params=None, tags=None) -> Run:
        """A nested run (one configuration or seed) under this one; use it with ``with``.

        Parameters
        ----------
        name : str
            Run name, e.g. ``"k=3"``; also the name of its local sub-folder.
        params : dict, optional
            Logged when the run starts.
        tags : dict, optional
            Tags set when the run starts.

        Examples
        --------
        >>> with Study("demo", tracking_uri=False) as study:  # doctest: +SKIP
        ...     with study.run("k=3", params={"k": 3}) as run:
        ...         run.log_metrics({"loglik": -0.61})
        """
        folder = _safe_name(name)
        base, n = folder, 1
        while folder in self._children_names:  # a repeated name must not overwrite the first
            n += 1
            folder = f"{base}-{n}"
        self._children_names.add(folder)
        return Run(name, parent=self, folder=folder, params=params, tags=tags)

    # ---- logging
    def log_params(self, params) -> None:
        """Log parameters (nested dicts become ``a.b`` keys); also kept in ``params.json``.

        Examples
        --------
        >>> study.log_params({"model": "bt", "inference": {"name": "map", "steps": 500}})  # doctest: +SKIP
        """
        try:
            flat = {_safe_key(k): v for k, v in _flatten(params).items()}
        except Exception as err:  # not a mapping
            self.study._failed("params", f"params of {self._label}", err)
            return
        if not flat:
            return
        self._params.update(flat)
        try:
            self._write_json("params.json", self._params)
        except Exception as err:  # a full disk must not keep the params from mlflow
            self.study._failed("local", f"params of {self._label}", err)

        def call(client):
            from mlflow.entities import Param

            entities = [Param(k, str(v)[:_MAX_PARAM_LENGTH]) for k, v in flat.items()]
            for i in range(0, len(entities), _MAX_PARAMS_PER_BATCH):
                client.log_batch(self.run_id, params=entities[i : i + _MAX_PARAMS_PER_BATCH])

        self.study._call("params", f"params of {self._label}", self, call)

    def log_metrics(self, metrics, step=None) -> None:
        """Log metrics; a list/array/Series value is a per-step series.

        Parameters
        ----------
        metrics : dict
            ``name -> number`` or ``name -> sequence`` (a series logged at steps
            ``step, step+1, ...``; a pandas Series with an integer index uses its index).
        step : int, optional
            Step of scalar values, first step of series (0 by default).

        Examples
        --------
        >>> study.log_metrics({"heldout_loglik": -0.61}, step=3)  # doctest: +SKIP
        >>> study.log_metrics({"elbo": losses})  # doctest: +SKIP
        """
        try:
            points, bad = _metric_points(metrics, step)
        except Exception as err:  # not a mapping, or a bad step
            self.study._failed("metrics", f"metrics of {self._label}", err)
            return
        for key, err in bad:
            self.study._failed("metrics", f"metric {key!r} of {self._label} (not a number)", err)
        points = [(_safe_key(k), v, s) for k, v, s in points]
        now = int(time.time() * 1000)
        self._metrics.extend((k, v, s, now) for k, v, s in points)
        self._metrics_dirty = True
        self._flush_metrics(force=False)
        if not points:
            return

        def call(client):
            from mlflow.entities import Metric

            entities = [Metric(k, v, now, s) for k, v, s in points]
            for i in range(0, len(entities), _MAX_METRICS_PER_BATCH):
                client.log_batch(self.run_id, metrics=entities[i : i + _MAX_METRICS_PER_BATCH])

        self.study._call("metrics", f"metrics of {self._label}", self, call)

    def set_tags(self, tags) -> None:
        """Set run tags; also kept in ``tags.json``.

        Examples
        --------
        >>> study.set_tags({"dataset": "ukp"})  # doctest: +SKIP
        """
        try:
            flat = {str(k): str(v)[:_MAX_TAG_LENGTH] for k, v in _flatten(tags).items()}
        except Exception as err:  # not a mapping
            self.study._failed("tags", f"tags of {self._label}", err)
            return
        if not flat:
            return
        self._tags.update(flat)
        try:
            self._write_json("tags.json", self._tags)
        except Exception as err:
            self.study._failed("local", f"tags of {self._label}", err)
        def call(client):
            from mlflow.entities import RunTag

            entities = [RunTag(k, v) for k, v in flat.items()]
            for i in range(0, len(entities), _MAX_PARAMS_PER_BATCH):
                client.log_batch(self.run_id, tags=entities[i : i + _MAX_PARAMS_PER_BATCH])

        self.study._call("tags", f"tags of {self._label}", self, call)

    def log_artifact(self, path, artifact_path=None) -> Path | None:
        """Log a file or a folder that is already on disk (it is not copied locally).

        Examples
        --------
        >>> study.log_artifact("targets.jsonl")  # doctest: +SKIP
        """
        try:
            path = Path(path)
            if not path.exists():
                raise FileNotFoundError(f"no such file or folder: {path}")
        except Exception as err:
            self.study._failed("artifacts", f"artifact {path} of {self._label}", err)
            return None

        def call(client):
            if path.is_dir():
                client.log_artifacts(self.run_id, str(path), artifact_path or path.name)
            else:
                client.log_artifact(self.run_id, str(path), artifact_path)

        self.study._call("artifacts", f"artifact {path.name} of {self._label}", self, call)
        return path

    def log_model_dir(self, path, artifact_path="model") -> Path | None:
        """Log a saved model folder (as written by ``model.save``) under ``model/``.

        Examples
        --------
        >>> model.save("mixpref-runs/demo/model"); study.log_model_dir("mixpref-runs/demo/model")  # doctest: +SKIP
        """
        return self.log_artifact(path, artifact_path=artifact_path)

    def log_figure(self, figure, name, artifact_path=None, dpi=120) -> Path | None:
        """Save a matplotlib figure as ``<output_dir>/<name>.png`` and log the PNG.

        Returns the local path (None if even the local write failed).

        Examples
        --------
        >>> import matplotlib.pyplot as plt  # doctest: +SKIP
        >>> fig, ax = plt.subplots(); _ = ax.plot([1, 2])  # doctest: +SKIP
        >>> study.log_figure(fig, "loss")  # doctest: +SKIP
        """
        target = self.output_dir / (name if str(name).endswith(".png") else f"{name}.png")
        try:
            with atomic_path(target) as tmp:
                figure.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
        except Exception as err:
            self.study._failed("local", f"figure {target.name} of {self._label}", err)
            return None
        self.log_artifact(target, artifact_path=artifact_path)
        return target

    def log_table(self, table, name, artifact_path=None, index=False) -> Path | None:
        """Write a DataFrame as ``<output_dir>/<name>.csv`` and log the CSV.

        Examples
        --------
        >>> study.log_table(comparison, "rules")  # doctest: +SKIP
        """
        target = self.output_dir / (name if str(name).endswith(".csv") else f"{name}.csv")
        try:
            import pandas as pd

            frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
            with atomic_path(target) as tmp:
                frame.to_csv(tmp, index=index)
        except Exception as err:
            self.study._failed("local", f"table {target.name} of {self._label}", err)
            return None
        self.log_artifact(target, artifact_path=artifact_path)
        return target

    def log_text(self, text, name, artifact_path=None) -> Path | None:
        """Write text (a report, a config) as ``<output_dir>/<name>`` and log it.

        Examples
        --------
        >>> study.log_text("# Report\\n", "report.md")  # doctest: +SKIP
        """
        target = self.output_dir / str(name)
        try:
            with atomic_path(target) as tmp:
                tmp.write_text(str(text), encoding="utf-8")
        except Exception as err:
            self.study._failed("local", f"text {target.name} of {self._label}", err)
            return None
        self.log_artifact(target, artifact_path=artifact_path)
        return target

    def log_dataset(self, frame, name="data", context="training", targets=None, source=None) -> None:
        """Log a dataset as an mlflow run input (``mlflow.data.from_pandas`` + ``log_input``).

        A summary frame (one row per comparison, without the texts) is enough: mlflow keeps
        its digest, schema and profile, not the rows.

        Examples
        --------
        >>> study.log_dataset(data.to_frame(), name="ukp", context="training")  # doctest: +SKIP
        """
        if hasattr(frame, "to_frame") and not hasattr(frame, "columns"):  # a Series, or a mixpref object
            frame = frame.to_frame()
        try:
            self._datasets.append(
                {"name": str(name), "context": context, "rows": int(len(frame)), "columns": [str(c) for c in frame.columns]}
            )
            self._write_json("datasets.json", self._datasets)
        except Exception as err:
            self.study._failed("local", f"dataset {name} of {self._label}", err)

        def call(client):
            import mlflow.data
            from mlflow.entities import DatasetInput, InputTag
            from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

            kwargs = {"name": str(name), "targets": targets}
            if source is not None:
                kwargs["source"] = str(source)
            dataset = mlflow.data.from_pandas(frame, **kwargs)
            tags = [InputTag(key=MLFLOW_DATASET_CONTEXT, value=context)] if context else []
            client.log_inputs(self.run_id, datasets=[DatasetInput(dataset=dataset._to_mlflow_entity(), tags=tags)])

        self.study._call("dataset", f"dataset {name} of {self._label}", self, call)

    # ---- local files
    def _write_json(self, filename, obj):
        with atomic_path(self.output_dir / filename) as tmp:
            tmp.write_text(json.dumps(obj, indent=2, default=json_safe), encoding="utf-8")

    def _flush_metrics(self, force):
        if not self._metrics_dirty:
            return
        now = time.monotonic()
        if not force and now - self._metrics_written_at < _METRICS_FLUSH_SECONDS:
            return
        try:
            with atomic_path(self.output_dir / "metrics.csv") as tmp:
                with open(tmp, "w", encoding="utf-8") as fh:
                    fh.write("key,value,step,timestamp\n")
                    for key, value, step, stamp in self._metrics:
                        # keys are _safe_key()s: no commas or quotes, so no CSV quoting is needed
                        fh.write(f"{key},{value!r},{step},{stamp}\n")
            self._metrics_written_at = now
            self._metrics_dirty = False
        except Exception as err:
            self.study._failed("local", f"metrics.csv of {self._label}", err)

    @property
    def _label(self):
        return f"run {self.name!r}"


class Run(_Scope):
    """A nested mlflow run of a :class:`Study` (one configuration or seed).

    Made by :meth:`Study.run`; has the same ``log_*`` methods, writes its local files to
    ``<study output_dir>/<run name>/``, and is marked FAILED if its block raises.

    Examples
    --------
    >>> with Study("seeds") as study:  # doctest: +SKIP
    ...     for seed in range(3):
    ...         with study.run(f"seed={seed}", params={"seed": seed}) as run:
    ...             run.log_metrics({"ari": 0.9})
    """

    def __init__(self, name, parent, folder, params=None, tags=None):
        super().__init__(name)
        self.parent = parent
        self._folder = folder
        self._initial_params = params
        self._initial_tags = tags
        self._active = False

    @property
    def study(self) -> Study:
        return self.parent.study

    @property
    def output_dir(self) -> Path:
        return self.parent.output_dir / self._folder

    def __enter__(self) -> Run:
        study = self.study
        self._active = True
        study._stack.append(self)
        tags = {"mlflow.parentRunId": self.parent.run_id, "mixpref.study": study.name}

        def create(client):
            if self.parent.run_id is None:
                raise RuntimeError(f"its parent {self.parent._label} is not in mlflow")
            run = client.create_run(study.experiment_id, run_name=self.name, tags=tags)
            self.run_id = run.info.run_id

        study._call("runs", f"nested run {self.name!r}", None, create)
        if self._initial_tags:
            self.set_tags(self._initial_tags)
        if self._initial_params:
            self.log_params(self._initial_params)
        return self

    def __exit__(self, exc_type, exc, tb):
        study = self.study
        self._flush_metrics(force=True)
        if self in study._stack:
            study._stack.remove(self)
        self._active = False
        status = _status(exc_type)

        def end(client):
            client.set_terminated(self.run_id, status=status)

        study._call("runs", f"end of nested run {self.name!r}", self, end)
        return False

    def __repr__(self):
        return f"Run({self.name!r}, run_id={self.run_id!r})"


def _status(exc_type):
    if exc_type is None:
        return "FINISHED"
    if issubclass(exc_type, KeyboardInterrupt):
        return "KILLED"
    return "FAILED"


class Study(_Scope):
    """An mlflow experiment run: one parent run, nested runs per configuration or seed.

    Every ``log_*`` call first writes the local copy (``output_dir``), then logs to mlflow.
    Any mlflow failure becomes one :class:`MixprefTrackingWarning` per kind of failure
    (``params``, ``metrics``, ``artifacts``, ``dataset``, ``tags``, ``runs``, or the whole
    tracking when mlflow cannot start); the computation and the local files are never
    affected. ``study.failures`` lists everything that was not logged, and
    ``tracking.json`` in ``output_dir`` records where the run went.

    Parameters
    ----------
    name : str
        Study name: the mlflow experiment and the parent run's name.
    tracking_uri : str or path-like, optional
        mlflow tracking URI. Default ``$MIXPREF_TRACKING_URI`` if set, else
        ``sqlite:///<cwd>/mixpref-runs/mlflow.db``. A path
        without a scheme is a sqlite file (``*.db``) or a folder holding ``mlflow.db``.
        ``False`` turns mlflow off (local outputs only).
    artifact_dir : path-like, optional
        Artifact location of a new experiment. Default ``<cwd>/mixpref-runs/artifacts``
        for the default URI, ``<database folder>/artifacts`` for another sqlite URI, the
        server's default otherwise.
    output_dir : path-like, optional
        Local output folder; default ``<cwd>/mixpref-runs/<name>/``.

    Examples
    --------
    >>> import mixpref as mp  # doctest: +SKIP
    >>> with mp.Study("mixture-k") as study:  # doctest: +SKIP
    ...     study.log_dataset(frame, name="ukp")
    ...     for k in (1, 2, 3):
    ...         with study.run(f"k={k}", params={"k": k}) as run:
    ...             model = mp.MixtureBT(n_types=k).fit(data, features)  # logs to `run`
    ...             run.log_metrics({"heldout_loglik": model.score(test, features)})
    """

    def __init__(self, name, tracking_uri=None, artifact_dir=None, output_dir=None):
        autolog()  # fits and aggregations emit events; a study is what listens
        super().__init__(name)
        self.enabled = tracking_uri is not False
        self.tracking_uri = resolve_tracking_uri(tracking_uri) if self.enabled else None
        db = sqlite_path(self.tracking_uri) if self.enabled else None
        if artifact_dir is not None:
            self.artifact_dir = Path(artifact_dir).absolute()
        elif db is not None:
            self.artifact_dir = db.parent / "artifacts"
        else:
            self.artifact_dir = None
        self._output_dir = (
            Path(output_dir).absolute() if output_dir is not None else Path.cwd().absolute() / RUNS_FOLDER / _safe_name(name)
        )
        self.experiment_id = None
        self.failures = []  # (kind, what, error) for everything not logged
        self._warned = set()
        self._client = None
        self._consecutive_failures = 0
        self._gave_up = False
        self._stack: list[_Scope] = []
        self._active = False

    @property
    def study(self) -> Study:
        return self

    @property
    def output_dir(self) -> Path:
        return self._output_dir

    @property
    def _label(self):
        return f"study {self.name!r}"

    @property
    def active(self) -> bool:
        """True inside the ``with`` block."""
        return self._active

    @property
    def current(self) -> _Scope:
        """The innermost active nested run, or the study itself."""
        return self._stack[-1] if self._stack else self

    # ---- context manager
    def __enter__(self) -> Study:
        if self._active:
            raise RuntimeError(f"study {self.name!r} is already active; a Study is entered once")
        self._active = True
        self._stack = []
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        except Exception as err:
            self._failed("local", f"output folder {self.output_dir}", err)
        _ACTIVE_STUDIES.append(self)
        if self.enabled:
            self._start()
        self._write_tracking_json(status="RUNNING")
        return self

    def __exit__(self, exc_type, exc, tb):
        for scope in reversed(list(self._stack)):  # runs left open by an exception
            scope.__exit__(exc_type, exc, tb)
        self._flush_metrics(force=True)
        status = _status(exc_type)

        def end(client):
            client.set_terminated(self.run_id, status=status)

        self._call("runs", f"end of {self._label}", self, end)
        self._write_tracking_json(status=status)
        self._active = False
        if self in _ACTIVE_STUDIES:
            _ACTIVE_STUDIES.remove(self)
        return False

    def _start(self):
        try:
            db = sqlite_path(self.tracking_uri)
            if db is not None:
                _probe_sqlite(db)
            elif self.tracking_uri.startswith(("http://", "https://")):
                _probe_http(self.tracking_uri)
            # imported before _quiet(): importing mlflow configures its loggers
            from mlflow import MlflowClient

            with _quiet():
                client = MlflowClient(tracking_uri=self.tracking_uri)
                experiment = client.get_experiment_by_name(self.name)
                if experiment is None:
                    location = self.artifact_dir.as_uri() if self.artifact_dir is not None else None
                    self.experiment_id = client.create_experiment(self.name, artifact_location=location)
                else:
                    if experiment.lifecycle_stage == "deleted":
                        client.restore_experiment(experiment.experiment_id)
                    self.experiment_id = experiment.experiment_id
                run = client.create_run(self.experiment_id, run_name=self.name, tags={"mixpref.study": self.name})
            self.run_id = run.info.run_id
            self._client = client
        except Exception as err:
            self._gave_up = True
            self.failures.append(("tracking", "everything", repr(err)))
            self._warn(
                "tracking",
                f"mixpref: study {self.name!r}: mlflow tracking at {self.tracking_uri} is unavailable "
                f"({type(err).__name__}: {_first_line(err)}); nothing of this study is logged to mlflow. "
                f"Results are still written to {self.output_dir}.",
            )

    # ---- failure handling
    def _call(self, kind, what, scope, func):
        """Run one mlflow operation; a failure warns (once per kind) and never raises."""
        if not self.enabled:
            return
        if not self._active and self._client is None:  # logged to before `with Study(...)`
            self._failed("tracking", what, RuntimeError("the study is not active (use `with Study(...) as study`)"))
            return
        if self._client is None or self._gave_up or (scope is not None and scope.run_id is None):
            self.failures.append((kind, what, "not tracked"))  # already warned when tracking stopped
            return
        try:
            with _quiet():
                func(self._client)
            self._consecutive_failures = 0
        except Exception as err:
            self._consecutive_failures += 1
            self._failed(kind, what, err)
            if self._consecutive_failures >= _MAX_CONSECUTIVE_FAILURES:
                self._gave_up = True
                self._warn(
                    "gave-up",
                    f"mixpref: study {self.name!r}: {self._consecutive_failures} mlflow calls failed in a row; "
                    f"the rest of this study is not logged to mlflow. Results are still written to {self.output_dir}.",
                )

    def _failed(self, kind, what, err):
        self.failures.append((kind, what, repr(err)))
        if kind == "local":
            message = f"mixpref: study {self.name!r}: could not write {what} to {self.output_dir} ({type(err).__name__}: {_first_line(err)})."
        elif kind == "tracking":
            message = f"mixpref: study {self.name!r}: {what} not logged to mlflow: {_first_line(err)}."
        else:
            message = (
                f"mixpref: study {self.name!r}: {what} not logged to mlflow at {self.tracking_uri} "
                f"({type(err).__name__}: {_first_line(err)}); later {kind} failures of this study are not repeated. "
                f"Results are still written to {self.output_dir}."
            )
        self._warn(kind, message)

    def _warn(self, kind, message):
        if kind in self._warned:
            return
        self._warned.add(kind)
        warnings.warn(message, MixprefTrackingWarning, stacklevel=_user_stacklevel())

    def _write_tracking_json(self, status):
        info = {
            "study": self.name,
            "status": status,
            "tracking_uri": self.tracking_uri,
            "experiment_id": self.experiment_id,
            "run_id": self.run_id,
            "artifact_dir": str(self.artifact_dir) if self.artifact_dir else None,
            "not_logged": [{"kind": k, "what": w, "error": e} for k, w, e in self.failures],
        }
        try:
            self._write_json("tracking.json", info)
        except Exception as err:  # the output folder itself is unwritable: already warned
            if "local" not in self._warned:
                self._failed("local", "tracking.json", err)

    def __repr__(self):
        return f"Study({self.name!r}, tracking_uri={self.tracking_uri!r}, run_id={self.run_id!r})"


def _user_stacklevel() -> int:
    """The stacklevel of the first frame outside mixpref, so a warning points at user code."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1  # level 1 = the caller of warnings.warn
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _first_line(err) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# --------------------------------------------------------- active study, log_to


def active_study() -> Study | None:
    """The innermost study whose ``with`` block is running, or None.

    Examples
    --------
    >>> active_study() is None
    True
    """
    return _ACTIVE_STUDIES[-1] if _ACTIVE_STUDIES else None


def active_run() -> _Scope | None:
    """The innermost active nested run of the active study (or the study itself), or None.

    Examples
    --------
    >>> active_run() is None
    True
    """
    study = active_study()
    return None if study is None else study.current


def resolve_study(study=None) -> _Scope | None:
    """Where a fit or an aggregation should log.

    ``None``: the innermost active run of the active study, if any; ``False``: nowhere;
    a :class:`Study`: its innermost active run (or the study); a :class:`Run`: that run.

    Examples
    --------
    >>> resolve_study(None) is None and resolve_study(False) is None
    True
    """
    if study is None:
        return active_run()
    if study is False:
        return None
    if isinstance(study, Study):
        return study.current
    if isinstance(study, _Scope):
        return study
    raise TypeError(f"study must be a mixpref Study or Run, None or False, got {type(study).__name__}")


def log_to(
    study=None,
    params=None,
    metrics=None,
    step=None,
    tags=None,
    figures=None,
    tables=None,
    artifacts=None,
    model_dir=None,
):
    """Log to ``study`` (see :func:`resolve_study`); does nothing when there is no study.

    Never raises because of tracking, and never imports mlflow when there is no study.

    Parameters
    ----------
    study : Study, Run, None or False
        Target; None means the active study (if any), False means none.
    params, metrics, tags : dict, optional
        As in :meth:`Study.log_params`, :meth:`Study.log_metrics` (with ``step``),
        :meth:`Study.set_tags`.
    figures, tables : dict, optional
        ``name -> matplotlib figure`` / ``name -> DataFrame``.
    artifacts : list of path-like, optional
        Files or folders to log.
    model_dir : path-like, optional
        A saved model folder.

    Returns
    -------
    Study, Run or None
        Where it logged.

    Examples
    --------
    >>> log_to(None, metrics={"loss": 0.3}) is None  # no active study: nothing happens
    True
    """
    target = resolve_study(study)
    if target is None:
        return None
    if params:
        target.log_params(params)
    if metrics:
        target.log_metrics(metrics, step=step)
    if tags:
        target.set_tags(tags)
    for name, figure in (figures or {}).items():
        target.log_figure(figure, name)
    for name, table in (tables or {}).items():
        target.log_table(table, name)
    for path in artifacts or ():
        target.log_artifact(path)
    if model_dir is not None:
        target.log_model_dir(model_dir)
    return target


# --------------------------------------------------------- the observer of computation events


def _observe(name, payload):
    """Log a ``fit`` or ``aggregate`` event to the study it names (or the active one)."""
    study = payload.get("study")
    if resolve_study(study) is None:
        return
    if name == "fit":
        model = payload["model"]
        # keys carry the class name: one run may hold, say, a single BT and a mixture fit,
        # and mlflow refuses a parameter logged twice with different values
        cls = type(model).__name__
        params = {f"{cls}.{k}": v for k, v in model.get_params().items() if isinstance(v, (int, float, str, bool))}
        metrics = {"train_objective": model.objective_, "fit_seconds": model.fit_seconds_,
                   **{f"weight_{k}": float(w) for k, w in enumerate(model.weights_)}}
        log_to(study, params=params, metrics={f"{cls}.{k}": v for k, v in metrics.items()})
    elif name == "aggregate":
        lottery, rule, options = payload["lottery"], payload["rule"], payload.get("options") or {}
        support = (lottery.probs > 1e-9).sum(axis=1)
        log_to(
            study,
            params={f"{rule}.{k}": v for k, v in options.items() if isinstance(v, (int, float, str, bool))},
            metrics={f"{rule}.exploitability": float(lottery.exploitability().mean()),
                     f"{rule}.support": float(support.mean())},
        )


def autolog() -> None:
    """Log every fit and aggregation to the active :class:`Study` (or the one passed as ``study=``).

    A :class:`Study` turns this on when it is created; calling it is needed only to restore
    logging after :func:`disable_autolog`.

    Examples
    --------
    >>> import mixpref as mp
    >>> mp.autolog()
    """
    from .events import subscribe

    subscribe(_observe)


def disable_autolog() -> None:
    """Stop logging fits and aggregations (explicit ``log_*`` calls on a study still log)."""
    from .events import unsubscribe

    unsubscribe(_observe)

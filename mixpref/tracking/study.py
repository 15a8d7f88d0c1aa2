"""A study: one mlflow experiment and parent run, with nested runs per configuration or seed."""

from __future__ import annotations

import warnings
from pathlib import Path

from . import registry, uris
from .failures import MixprefTrackingWarning, first_line, quiet, user_stacklevel
from .observer import autolog
from .run import _Parent, status_of
from .scope import _Scope

# after this many failed mlflow calls in a row the study stops calling mlflow: a locked
# database costs its full lock timeout on every call, which would stall the computation
MAX_CONSECUTIVE_FAILURES = 3


class Study(_Parent):
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
        ``False`` turns mlflow off (local outputs only). A sqlite database that the study
        creates holds only the named experiments: mlflow's empty "Default" is soft-deleted.
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
        self.tracking_uri = uris.resolve_tracking_uri(tracking_uri) if self.enabled else None
        db = uris.sqlite_path(self.tracking_uri) if self.enabled else None
        if artifact_dir is not None:
            self.artifact_dir = Path(artifact_dir).absolute()
        elif db is not None:
            self.artifact_dir = db.parent / "artifacts"
        else:
            self.artifact_dir = None
        self._output_dir = (
            Path(output_dir).absolute()
            if output_dir is not None
            else Path.cwd().absolute() / uris.RUNS_FOLDER / uris.safe_name(name)
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
    def log_target(self) -> _Scope:
        return self.current

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
        registry.enter(self)
        if self.enabled:
            self._start()
        self._write_tracking_json(status="RUNNING")
        return self

    def __exit__(self, exc_type, exc, tb):
        for scope in reversed(list(self._stack)):  # runs left open by an exception
            scope.__exit__(exc_type, exc, tb)
        self._flush_metrics(force=True)
        status = status_of(exc_type)

        def end(client):
            client.set_terminated(self.run_id, status=status)

        self._call("runs", f"end of {self._label}", self, end)
        self._write_tracking_json(status=status)
        self._active = False
        registry.leave(self)
        return False

    def _start(self):
        try:
            db = uris.sqlite_path(self.tracking_uri)
            new_database = db is not None and not (db.is_file() and db.stat().st_size > 0)
            uris.probe(self.tracking_uri)
            # imported before quiet(): importing mlflow configures its loggers
            from mlflow import MlflowClient

            with quiet():
                client = MlflowClient(tracking_uri=self.tracking_uri)
                if new_database:
                    try:
                        _hide_default_experiment(client)
                    except Exception:  # cosmetic: an extra empty experiment must not stop logging
                        pass
                self.experiment_id = _open_experiment(client, self.name, self.artifact_dir)
                run = client.create_run(self.experiment_id, run_name=self.name, tags={"mixpref.study": self.name})
            self.run_id = run.info.run_id
            self._client = client
        except Exception as err:
            self._gave_up = True
            self.failures.append(("tracking", "everything", repr(err)))
            self._warn(
                "tracking",
                f"mixpref: study {self.name!r}: mlflow tracking at {self.tracking_uri} is unavailable "
                f"({type(err).__name__}: {first_line(err)}); nothing of this study is logged to mlflow. "
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
            with quiet():
                func(self._client)
            self._consecutive_failures = 0
        except Exception as err:
            self._consecutive_failures += 1
            self._failed(kind, what, err)
            if self._consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                self._gave_up = True
                self._warn(
                    "gave-up",
                    f"mixpref: study {self.name!r}: {self._consecutive_failures} mlflow calls failed in a row; "
                    f"the rest of this study is not logged to mlflow. Results are still written to {self.output_dir}.",
                )

    def _failed(self, kind, what, err):
        self.failures.append((kind, what, repr(err)))
        if kind == "local":
            message = f"mixpref: study {self.name!r}: could not write {what} to {self.output_dir} ({type(err).__name__}: {first_line(err)})."
        elif kind == "tracking":
            message = f"mixpref: study {self.name!r}: {what} not logged to mlflow: {first_line(err)}."
        else:
            message = (
                f"mixpref: study {self.name!r}: {what} not logged to mlflow at {self.tracking_uri} "
                f"({type(err).__name__}: {first_line(err)}); later {kind} failures of this study are not repeated. "
                f"Results are still written to {self.output_dir}."
            )
        self._warn(kind, message)

    def _warn(self, kind, message):
        if kind in self._warned:
            return
        self._warned.add(kind)
        warnings.warn(message, MixprefTrackingWarning, stacklevel=user_stacklevel())

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




def _open_experiment(client, name, artifact_dir) -> str:
    """The id of experiment ``name``: created (artifacts in ``artifact_dir``) or restored if deleted."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = artifact_dir.as_uri() if artifact_dir is not None else None
        return client.create_experiment(name, artifact_location=location)
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def _hide_default_experiment(client) -> None:
    """Soft-delete the empty "Default" experiment that mlflow's sqlite store makes with a new database.

    mlflow's store inserts experiment 0 whenever it opens a database without one, so it
    cannot be avoided; deleted, it stays in the file (so it is not re-created) but no longer
    shows in ``search_experiments`` or the UI. Only databases this study itself created are
    touched, and only while experiment 0 holds no run: a database someone else made keeps its
    Default. ``client.restore_experiment("0")`` brings it back (needed only by code that
    starts runs without naming an experiment).
    """
    from mlflow.entities import ViewType

    default = client.get_experiment("0")
    if default is None or default.lifecycle_stage != "active" or default.name != "Default":
        return
    if client.search_runs(["0"], run_view_type=ViewType.ALL, max_results=1):
        return
    client.delete_experiment("0")

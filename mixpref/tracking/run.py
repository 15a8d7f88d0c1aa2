"""Nested runs: one mlflow run per configuration or seed, under a study (or another run)."""

from __future__ import annotations

from pathlib import Path

from .scope import _Scope
from .uris import safe_name


class _Parent(_Scope):
    """A scope that can hold nested runs (a study, or a run holding runs of its own)."""

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
        folder = safe_name(name)
        base, n = folder, 1
        while folder in self._children_names:  # a repeated name must not overwrite the first
            n += 1
            folder = f"{base}-{n}"
        self._children_names.add(folder)
        return Run(name, parent=self, folder=folder, params=params, tags=tags)


class Run(_Parent):
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
    def study(self):
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
        status = status_of(exc_type)

        def end(client):
            client.set_terminated(self.run_id, status=status)

        study._call("runs", f"end of nested run {self.name!r}", self, end)
        return False

    def __repr__(self):
        return f"Run({self.name!r}, run_id={self.run_id!r})"


def status_of(exc_type):
    """The mlflow status of a run whose block ended with ``exc_type`` (None: it did not raise)."""
    if exc_type is None:
        return "FINISHED"
    if issubclass(exc_type, KeyboardInterrupt):
        return "KILLED"
    return "FAILED"



"""What a study and its nested runs share: a local folder, an mlflow run id, the ``log_*`` methods.

Every ``log_*`` call writes the local copy first (``params.json``, ``tags.json``,
``metrics.csv``, PNGs, CSVs) and then hands one mlflow operation to the study
(``study._call``), which decides whether mlflow is reachable and turns any failure into a
warning. Metrics are buffered in memory and ``metrics.csv`` is rewritten (atomically) at
most once a second, and always when the run ends, so a long series of steps costs no more
than a few writes.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from .._io import atomic_path, write_json
from .uris import safe_key
from .values import flatten, metric_points

# mlflow's own batch limits (mlflow.utils.validation); larger batches are split
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
# local metrics.csv is rewritten (atomically) at most this often, and always at run end
METRICS_FLUSH_SECONDS = 1.0


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
        # per-key counts of what the fit/aggregate observer logged here (see observer.py)
        self._observed = {}

    # ---- subclasses provide
    @property
    def study(self):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def output_dir(self) -> Path:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def log_target(self) -> _Scope:
        """Where a fit or an aggregation logs when it is given this scope (a study: its current run)."""
        return self

    # ---- logging
    def log_params(self, params) -> None:
        """Log parameters (nested dicts become ``a.b`` keys); also kept in ``params.json``.

        Examples
        --------
        >>> study.log_params({"model": "bt", "inference": {"name": "map", "steps": 500}})  # doctest: +SKIP
        """
        try:
            flat = {safe_key(k): v for k, v in flatten(params).items()}
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

            entities = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in flat.items()]
            for i in range(0, len(entities), MAX_PARAMS_PER_BATCH):
                client.log_batch(self.run_id, params=entities[i : i + MAX_PARAMS_PER_BATCH])

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
            points, bad = metric_points(metrics, step)
        except Exception as err:  # not a mapping, or a bad step
            self.study._failed("metrics", f"metrics of {self._label}", err)
            return
        for key, err in bad:
            self.study._failed("metrics", f"metric {key!r} of {self._label} (not a number)", err)
        points = [(safe_key(k), v, s) for k, v, s in points]
        now = int(time.time() * 1000)
        self._metrics.extend((k, v, s, now) for k, v, s in points)
        self._metrics_dirty = True
        self._flush_metrics(force=False)
        if not points:
            return

        def call(client):
            from mlflow.entities import Metric

            entities = [Metric(k, v, now, s) for k, v, s in points]
            for i in range(0, len(entities), MAX_METRICS_PER_BATCH):
                client.log_batch(self.run_id, metrics=entities[i : i + MAX_METRICS_PER_BATCH])

        self.study._call("metrics", f"metrics of {self._label}", self, call)

    def set_tags(self, tags) -> None:
        """Set run tags; also kept in ``tags.json``.

        Examples
        --------
        >>> study.set_tags({"dataset": "ukp"})  # doctest: +SKIP
        """
        try:
            flat = {str(k): str(v)[:MAX_TAG_LENGTH] for k, v in flatten(tags).items()}
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
            for i in range(0, len(entities), MAX_PARAMS_PER_BATCH):
                client.log_batch(self.run_id, tags=entities[i : i + MAX_PARAMS_PER_BATCH])

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
        write_json(obj, self.output_dir / filename)

    def _flush_metrics(self, force):
        if not self._metrics_dirty:
            return
        now = time.monotonic()
        if not force and now - self._metrics_written_at < METRICS_FLUSH_SECONDS:
            return
        try:
            with atomic_path(self.output_dir / "metrics.csv") as tmp:
                with open(tmp, "w", encoding="utf-8") as fh:
                    fh.write("key,value,step,timestamp\n")
                    for key, value, step, stamp in self._metrics:
                        # keys are safe_key()s: no commas or quotes, so no CSV quoting is needed
                        fh.write(f"{key},{value!r},{step},{stamp}\n")
            self._metrics_written_at = now
            self._metrics_dirty = False
        except Exception as err:
            self.study._failed("local", f"metrics.csv of {self._label}", err)

    @property
    def _label(self):
        return f"run {self.name!r}"


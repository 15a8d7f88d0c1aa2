"""Per-response features: embeddings phi(x, y) and optional reference log-probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .._io import atomic_path, json_safe


class Features:
    """Response features aligned by response id.

    Parameters
    ----------
    ids : sequence of hashable
        Response ids, the same ids as ``data.responses["response_id"]``. Must be unique.
    embeddings : array-like of shape (n_responses, d)
        Finite feature vectors, one row per id.
    logp_ref : array-like of shape (n_responses,), optional
        Reference-policy log-probabilities ``log pi_ref(y | x)`` (finite, <= 0 not required:
        per-token means and sums are both accepted).

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> f = mp.Features(["r1", "r2"], np.eye(2))
    >>> f.dim, len(f)
    (2, 2)
    >>> f.align(["r2", "r1"]).embeddings[0]
    array([0., 1.], dtype=float32)
    """

    def __init__(self, ids, embeddings, logp_ref=None):
        try:
            ids = list(ids)
            for value in ids:
                hash(value)
            index = pd.Index(ids, dtype=object)
        except TypeError as err:
            raise DataError(f"Features ids: expected hashable response ids ({err})") from None
        if index.has_duplicates:
            dup = index[index.duplicated()].unique()[:5].tolist()
            raise DataError(f"Features ids: duplicate response ids {dup}; expected each id once")
        try:
            emb = np.asarray(embeddings, dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise DataError(f"Features embeddings: expected a numeric 2-d array ({err})") from None
        if emb.ndim != 2:
            raise DataError(f"Features embeddings: expected shape (n_responses, d), got {emb.shape}")
        if emb.shape[0] != len(index):
            raise DataError(
                f"Features embeddings: {emb.shape[0]} rows for {len(index)} ids; expected one row per id"
            )
        bad = ~np.isfinite(emb).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)[:5]
            raise DataError(
                f"Features embeddings: non-finite values in rows {rows.tolist()} "
                f"(response ids {index[rows].tolist()}); expected finite numbers"
            )
        if logp_ref is not None:
            try:
                lp = np.asarray(logp_ref, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as err:
                raise DataError(f"Features logp_ref: expected numbers ({err})") from None
            if lp.shape[0] != len(index):
                raise DataError(f"Features logp_ref: {lp.shape[0]} values for {len(index)} ids")
            badlp = ~np.isfinite(lp)
            if badlp.any():
                rows = np.flatnonzero(badlp)[:5]
                raise DataError(
                    f"Features logp_ref: non-finite values in rows {rows.tolist()} "
                    f"(response ids {index[rows].tolist()}); expected finite log-probabilities"
                )
            logp_ref = lp
        self.ids = index
        self.embeddings = emb
        self.logp_ref = logp_ref

    def __len__(self):
        return len(self.ids)

    def __repr__(self):
        lp = ", logp_ref" if self.logp_ref is not None else ""
        return f"Features(n_responses={len(self)}, dim={self.dim}{lp})"

    @property
    def dim(self) -> int:
        """Embedding dimension ``d``."""
        return self.embeddings.shape[1]

    def positions(self, ids) -> np.ndarray:
        """Row positions of ``ids``; raises :class:`DataError` naming any id that is missing."""
        ids = pd.Index(list(ids))
        pos = self.ids.get_indexer(ids)
        missing = pos < 0
        if missing.any():
            names = ids[missing].unique()
            raise DataError(
                f"Features: {len(names)} response id(s) have no features, e.g. {names[:5].tolist()}; "
                "expected features for every response of the data"
            )
        return pos

    def align(self, ids_or_data) -> "Features":
        """Features reordered to ``ids`` (or to ``data.responses``), validating that none is missing."""
        ids = _response_ids(ids_or_data)
        pos = self.positions(ids)
        lp = None if self.logp_ref is None else self.logp_ref[pos]
        return Features(ids, self.embeddings[pos], lp)

    def with_logp_ref(self, logp_ref) -> "Features":
        """A copy with ``logp_ref`` set."""
        return Features(self.ids, self.embeddings, logp_ref)

    def save(self, path) -> Path:
        """Write to ``path`` (a folder) as safetensors + ids JSON, atomically."""
        import json

        from safetensors.numpy import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tensors = {"embeddings": np.ascontiguousarray(self.embeddings)}
        if self.logp_ref is not None:
            tensors["logp_ref"] = np.ascontiguousarray(self.logp_ref)
        with atomic_path(path / "features.safetensors") as tmp:
            save_file(tensors, str(tmp))
        with atomic_path(path / "ids.json") as tmp:
            tmp.write_text(json.dumps(json_safe(list(self.ids))))
        return path

    @classmethod
    def load(cls, path) -> "Features":
        """Read a folder written by :meth:`save`."""
        import json

        from safetensors.numpy import load_file

        path = Path(path)
        tensors = load_file(str(path / "features.safetensors"))
        ids = json.loads((path / "ids.json").read_text())
        return cls(ids, tensors["embeddings"], tensors.get("logp_ref"))


def _response_ids(ids_or_data):
    responses = getattr(ids_or_data, "responses", None)
    if isinstance(responses, pd.DataFrame):
        return responses["response_id"].tolist()
    return list(ids_or_data)

"""Per-response features: embeddings phi(x, y) and optional reference log-probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .._io import atomic_path, write_json
from .validation import rows_text


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
    item_names : list, optional
        For item-level features (:meth:`one_hot`): the item of each embedding column.

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> f = mp.Features(["r1", "r2"], np.eye(2))
    >>> f.dim, len(f)
    (2, 2)
    >>> f.align(["r2", "r1"]).embeddings[0]
    array([0., 1.], dtype=float32)
    """

    def __init__(self, ids, embeddings, logp_ref=None, *, item_names=None):
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
            rows = np.flatnonzero(bad)
            raise DataError(
                f"Features embeddings: non-finite values in {rows_text(rows)} (0-based; response ids "
                f"{index[rows[:5]].tolist()}); expected finite numbers"
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
                rows = np.flatnonzero(badlp)
                raise DataError(
                    f"Features logp_ref: non-finite values in {rows_text(rows)} (0-based; response ids "
                    f"{index[rows[:5]].tolist()}); expected finite log-probabilities"
                )
            logp_ref = lp
        if item_names is not None:
            item_names = list(item_names)
            if len(item_names) != emb.shape[1]:
                raise DataError(
                    f"Features item_names: {len(item_names)} names for {emb.shape[1]} embedding columns; "
                    "expected one name per column"
                )
        self.ids = index
        self.embeddings = emb
        self.logp_ref = logp_ref
        self.item_names = item_names

    def __len__(self):
        return len(self.ids)

    def __repr__(self):
        lp = ", logp_ref" if self.logp_ref is not None else ""
        items = ", one-hot items" if self.item_names is not None else ""
        return f"Features(n_responses={len(self)}, dim={self.dim}{lp}{items})"

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
        return Features(ids, self.embeddings[pos], lp, item_names=self.item_names)

    def with_logp_ref(self, logp_ref) -> "Features":
        """A copy with ``logp_ref`` set."""
        return Features(self.ids, self.embeddings, logp_ref, item_names=self.item_names)

    @classmethod
    def one_hot(cls, data, items=None, by="text") -> "Features":
        """Item-level features: each response's embedding is the one-hot vector of its item.

        For data whose responses are a few items shared across prompts (the models of an
        MT-Bench judgment file, products, universities): responses with the same ``by``
        value (their text: the item's name) are the same item, whatever their prompt. A
        linear model fitted on these features learns one reward per item (Bradley-Terry on
        items, as in choix). No text encoder runs.

        Parameters
        ----------
        data : PreferenceData
        items : sequence, optional
            The items, in column order (e.g. those of the training data, so that features
            of other data line up). Default: the items of ``data``, sorted.
        by : str
            Column of ``data.responses`` naming the item: ``"text"`` (default; in ids mode
            without texts it is the id) or ``"response_id"``.

        Returns
        -------
        Features
            One row per response of ``data.responses``, in that order; ``item_names`` lists
            the item of each column.

        Examples
        --------
        >>> import pandas as pd, mixpref as mp
        >>> df = pd.DataFrame({"question_id": [1, 2], "model_a": ["gpt-4", "vicuna"],
        ...                    "model_b": ["vicuna", "llama"], "winner": ["a", "b"]})
        >>> data = mp.PreferenceData.from_frame(df, prompt="question_id", response_a="model_a",
        ...                                     response_b="model_b", label="winner")
        >>> f = mp.Features.one_hot(data)
        >>> f.item_names, len(f)
        (['gpt-4', 'llama', 'vicuna'], 4)
        >>> f.embeddings.argmax(axis=1).tolist()
        [0, 2, 2, 1]
        """
        responses = getattr(data, "responses", None)
        if not isinstance(responses, pd.DataFrame):
            raise DataError(f"Features.one_hot: got {type(data).__name__}; expected PreferenceData")
        if by not in responses.columns:
            raise DataError(
                f"Features.one_hot: by={by!r} is not a column of data.responses; expected one of "
                f"{[c for c in responses.columns if c != 'messages']}"
            )
        values = responses[by].tolist()
        if items is None:
            distinct = list(dict.fromkeys(values))
            try:
                items = sorted(distinct)
            except TypeError:  # mixed types cannot be sorted: keep first appearance
                items = distinct
        else:
            items = list(items)
            if len(set(items)) != len(items):
                raise DataError("Features.one_hot: items lists an item twice; expected each item once")
        column = pd.Index(items, dtype=object).get_indexer(pd.Index(values, dtype=object))
        if (column < 0).any():
            missing = list(dict.fromkeys(v for v, c in zip(values, column) if c < 0))
            raise DataError(
                f"Features.one_hot: {len(missing):,} item(s) of the data are not in items=, e.g. "
                f"{[str(v)[:40] for v in missing[:5]]}; expected items to cover every response"
            )
        embeddings = np.zeros((len(values), len(items)), dtype=np.float32)
        embeddings[np.arange(len(values)), column] = 1.0
        return cls(responses["response_id"].tolist(), embeddings, item_names=items)

    def save(self, path) -> Path:
        """Write to ``path`` (a folder) as safetensors + ids JSON, atomically."""
        from safetensors.numpy import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tensors = {"embeddings": np.ascontiguousarray(self.embeddings)}
        if self.logp_ref is not None:
            tensors["logp_ref"] = np.ascontiguousarray(self.logp_ref)
        with atomic_path(path / "features.safetensors") as tmp:
            save_file(tensors, str(tmp))
        write_json(list(self.ids), path / "ids.json", indent=None)
        if self.item_names is not None:
            write_json(self.item_names, path / "item_names.json", indent=None)
        else:  # a folder written before by item-level features must not lend them its names
            (path / "item_names.json").unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path) -> "Features":
        """Read a folder written by :meth:`save`."""
        import json

        from safetensors.numpy import load_file

        path = Path(path)
        tensors = load_file(str(path / "features.safetensors"))
        ids = json.loads((path / "ids.json").read_text())
        names = path / "item_names.json"
        item_names = json.loads(names.read_text()) if names.exists() else None
        return cls(ids, tensors["embeddings"], tensors.get("logp_ref"), item_names=item_names)


def _response_ids(ids_or_data):
    responses = getattr(ids_or_data, "responses", None)
    if isinstance(responses, pd.DataFrame):
        return responses["response_id"].tolist()
    return list(ids_or_data)

"""What ``fit`` and ``select`` need around a model: its features, its readable outputs, its folder.

A model folder written by the CLI holds the model (``Model.save``), ``metrics.json``,
``rewards.csv`` (one row per response or item, with its text or name) and ``source.json``
(the data file, its options and where the features came from), so that
``mixpref aggregate --model DIR`` can rebuild the candidates without repeating them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError

SOURCE_FILE = "source.json"
REWARDS_FILE = "rewards.csv"
NO_FEATURES = ("no features: give --features FOLDER (from `mixpref embed`), --embed minilm, or --item-level when the "
               "responses are a few items (models, products) shared across prompts")


def item_features(data, item_names=None):
    """One-hot item features (:meth:`Features.one_hot`) and the item names, in ``item_names``' order when given.

    A model fitted on items A, B, C reads its features in that order; data read again later
    may list the items differently, so the columns follow the names the model was fitted with.
    """
    from ..data.features import Features

    feats = Features.one_hot(data, items=item_names)
    return feats, list(feats.item_names)


def load_features(data, features_dir=None, embed=None, device="auto", item_level=False, item_names=None, progress=True):
    """Features for ``data``: a folder (``mixpref embed``), an encoder run now, or item one-hot vectors.

    Returns ``(features, item_names)``; ``item_names`` is None unless ``item_level``.
    """
    given = [name for name, v in (("--features", features_dir), ("--embed", embed), ("--item-level", item_level)) if v]
    if len(given) > 1:
        raise DataError(f"give one of --features, --embed or --item-level, not {' and '.join(given)}")
    if item_level:
        return item_features(data, item_names)
    if features_dir is not None:
        from ..data.features import Features

        if not Path(features_dir).is_dir():
            raise DataError(f"--features: {features_dir} is not a folder written by mixpref embed / Features.save")
        return Features.load(features_dir).align(data), None
    if embed is not None:
        from ..features.text_encoder import TextEncoder

        from .options import progress_bars

        with progress_bars(progress):
            return TextEncoder(model=embed, device=device, progress=progress).encode_data(data), None
    raise DataError(NO_FEATURES)


def _per_type(model, features) -> np.ndarray:
    r = np.asarray(model.rewards(features), dtype=np.float64)
    return r[None, :] if r.ndim == 1 else r


def _reward_columns(rewards: np.ndarray) -> dict:
    if rewards.shape[0] == 1:
        return {"reward": rewards[0]}
    return {f"reward_{k}": rewards[k] for k in range(rewards.shape[0])}


def reward_table(model, data, features, item_names=None) -> pd.DataFrame:
    """One row per distinct response (or item): ``response_id``, ``text``, ``reward`` or ``reward_0 ...``.

    In item-level mode (``item_names`` given) a row is an item (``response_id`` and
    ``text`` are its name), sorted best first by the type-weighted mean reward; otherwise
    the rows are the data's responses in order, with their ``prompt_id``.
    """
    from ..aggregation.lottery import truncate_text
    from ..data.features import Features

    if item_names is not None:
        items = Features(list(item_names), np.eye(len(item_names), dtype=np.float32))
        rewards = _per_type(model, items)
        table = pd.DataFrame({"response_id": list(item_names), "text": list(item_names), **_reward_columns(rewards)})
        order = np.argsort(-(np.asarray(model.weights_, dtype=np.float64) @ rewards), kind="stable")
        return table.iloc[order].reset_index(drop=True)
    responses = data.responses
    rewards = _per_type(model, features.align(data))
    return pd.DataFrame({
        "response_id": responses["response_id"].to_numpy(),
        "prompt_id": responses["prompt_id"].to_numpy(),
        "text": responses["text"].map(truncate_text).to_numpy(),
        **_reward_columns(rewards),
    })


def heldout_split(data, test_size=0.2, random_state=0):
    """``(train, test)`` of ``data``, or None when it is too small to hold anything out."""
    try:
        train, test = data.split(test_size=test_size, random_state=random_state)
    except DataError:
        return None
    return None if len(train) == 0 or len(test) == 0 else (train, test)


def heldout_score(base_or_model, data, features, test_size=0.2, random_state=0):
    """Held-out log-likelihood per observation of a copy of the model fitted on the rest (None if too small)."""
    from sklearn.base import clone

    split = heldout_split(data, test_size, random_state)
    if split is None:
        return None
    train, test = split
    model = clone(base_or_model).fit(train, features, study=False)
    return float(model.score(test, features))


def summary_lines(model, metrics, table, item_level) -> list:
    """A few lines a person reads after a fit: types and weights, held-out score, the ranking of items."""
    weights = [round(float(w), 3) for w in model.weights_]
    lines = [f"{type(model).__name__}: {len(weights)} type(s), weights {weights}"]
    if metrics.get("heldout_log_likelihood") is not None:
        se = metrics.get("heldout_se")
        extra = f" (se of the difference to the best K {se:.4f})" if se else ""
        lines.append(f"held-out log-likelihood {metrics['heldout_log_likelihood']:.4f} per observation{extra}")
    lines.append(f"train log-likelihood {metrics['train_log_likelihood']:.4f} per observation")
    if item_level:
        cols = [c for c in table.columns if c.startswith("reward")]
        lines.append("ranking by reward" + (" (type-weighted mean)" if len(cols) > 1 else "") + ":")
        for rank, row in enumerate(table.itertuples(index=False), start=1):
            values = ", ".join(f"{getattr(row, c):+.3f}" for c in cols)
            lines.append(f"  {rank:>3}. {row.text}  {values}")
    return lines


def write_source(out, data_path, data_options, item_level, item_names, features_dir, embed):
    """Record where the model's data and features came from (``source.json``)."""
    from .._io import write_json

    path = str(data_path)
    if Path(path).exists():
        path = str(Path(path).resolve())
    source = {"data": path, "data_options": data_options or {}, "item_level": bool(item_level),
              "item_names": item_names, "features": None if features_dir is None else str(Path(features_dir).resolve()),
              "embed": embed}
    write_json(source, Path(out) / SOURCE_FILE)


def read_source(model_dir) -> dict:
    """``source.json`` of a model folder written by ``mixpref fit``/``select`` ({} when absent)."""
    path = Path(model_dir) / SOURCE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}

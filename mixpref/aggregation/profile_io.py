"""Reading and writing a :class:`~mixpref.aggregation.profile.Profile` as one ``.npz`` file (no pickle)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..errors import DataError


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def save_profile(profile, path):
    """Write ``profile`` to ``path`` (.npz, atomically).

    Arrays: ``matrices``, ``weights``, ``mask``, ``ties``, optional ``rewards`` and
    ``samples``; ids and texts as JSON strings ``candidates_json``, ``prompts_json`` and
    ``texts_json`` (a P x M list, null where unknown).
    """
    cands = [[_plain(c) for c in row] for row in profile.candidates.tolist()]
    prompts = [_plain(p) for p in profile.prompts.tolist()]
    arrays = {
        "matrices": profile.matrices,
        "weights": profile.weights,
        "mask": profile.mask,
        "ties": np.asarray(profile.ties),
        "candidates_json": np.asarray(json.dumps(cands)),
        "prompts_json": np.asarray(json.dumps(prompts)),
    }
    if profile.texts is not None:
        arrays["texts_json"] = np.asarray(json.dumps(profile.texts.tolist()))
    if profile.rewards is not None:
        arrays["rewards"] = profile.rewards
    if profile.samples is not None:
        arrays["samples"] = profile.samples
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def load_profile(path, cls):
    """Read a profile of class ``cls`` from an ``.npz`` file.

    The file holds ``matrices`` (P, K, M, M) and ``weights``; optionally ``rewards``,
    ``samples``, ``mask``, ``ties`` and ``candidates_json`` / ``prompts_json`` /
    ``texts_json`` (JSON lists), as written by :func:`save_profile`. Files written by other
    tools need only the first two arrays.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"profile file not found: {path}")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"profile file {path}: not a readable .npz file ({err})") from None
    with npz:
        missing = [k for k in ("matrices", "weights") if k not in npz.files]
        if missing:
            raise DataError(f"profile file {path}: missing arrays {missing}; it has {npz.files}")

        def get(key):
            return npz[key] if key in npz.files else None

        def from_json(key):
            value = get(key)
            return None if value is None else json.loads(str(value))

        mask, ties, texts = get("mask"), get("ties"), from_json("texts_json")
        return cls(
            npz["matrices"],
            npz["weights"],
            candidates=from_json("candidates_json"),
            prompts=from_json("prompts_json"),
            rewards=get("rewards"),
            samples=get("samples"),
            mask=None if mask is None else mask.astype(bool),
            ties=bool(ties) if ties is not None else False,
            texts=None if texts is None else np.asarray(texts, dtype=object),
        )

"""Saving and loading fitted models: safetensors for tensors, JSON for everything else (no pickle)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .._io import atomic_path, json_safe, write_json
from ..errors import DataError
from . import _engine as E
from ._registry import model_class

FORMAT = "mixpref-model"
VERSION = 1


def _params_json(model):
    out = {}
    for key, value in model.get_params().items():
        if key == "base":
            out[key] = None if value is None else {"class": type(value).__name__, "params": _params_json(value)}
        else:
            out[key] = json_safe(value)
    return out


def save_model(model, path) -> Path:
    """Write a fitted model to the folder ``path``: ``model.json`` and ``params.safetensors``."""
    from safetensors.torch import save_file

    model._check_fitted()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {f"param.{k}": v.detach().cpu().contiguous() for k, v in model.params_.items()}
    tensors["responsibilities"] = torch.as_tensor(np.ascontiguousarray(model._resp))
    if model.posterior_samples_ is not None:
        tensors.update({f"sample.{k}": v.contiguous() for k, v in model.posterior_samples_.items()})
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "class": type(model).__name__,
        "params": _params_json(model),
        "spec": model.spec_.to_dict(),
        "n_features_in": model.n_features_in_,
        "annotators": [json_safe(a) for a in model.annotators_],
        "objective": getattr(model, "objective_", None),
    }
    with atomic_path(path / "params.safetensors") as tmp:
        save_file(tensors, str(tmp))
    write_json(meta, path / "model.json")
    return path


def _construct(name, params):
    # classes register themselves by name (PreferenceModel.__init_subclass__): no model import here
    cls = model_class(name)
    params = dict(params)
    if "base" in params and isinstance(params["base"], dict):
        params["base"] = _construct(params["base"]["class"], params["base"]["params"])
    return cls(**params)


def load_model(path):
    """Read a model written by ``model.save(path)``.

    Examples
    --------
    >>> import tempfile, mixpref as mp
    >>> pop = mp.synthetic.population(n_types=1, n_annotators=10, comparisons_per_annotator=20, dim=4)
    >>> bt = mp.BradleyTerry().fit(pop.data, pop.features)
    >>> folder = bt.save(tempfile.mkdtemp())
    >>> bool((mp.load_model(folder).rewards(pop.features) == bt.rewards(pop.features)).all())
    True
    """
    from safetensors.torch import load_file

    path = Path(path)
    meta_file = path / "model.json"
    if not meta_file.exists():
        raise FileNotFoundError(f"load_model: {meta_file} not found; expected a folder written by model.save()")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT:
        raise DataError(f"load_model: {meta_file} is not a mixpref model (format {meta.get('format')!r})")
    model = _construct(meta["class"], meta["params"])
    tensors = load_file(str(path / "params.safetensors"))
    samples = {k[len("sample."):]: v for k, v in tensors.items() if k.startswith("sample.")}
    model._restore(
        E.Spec(**meta["spec"]), {k[len("param."):]: v for k, v in tensors.items() if k.startswith("param.")},
        n_features_in=int(meta["n_features_in"]), annotators=meta["annotators"],
        responsibilities=tensors["responsibilities"].double().numpy(), samples=samples or None,
    )
    model.objective_ = meta.get("objective")
    return model

"""Model classes by name, so that loading a saved model imports no model class by hand.

Every concrete subclass of ``PreferenceModel`` registers itself when its module is imported
(``PreferenceModel.__init_subclass__``); :func:`model_class` finds a class by the name a
saved model records. A name not registered yet triggers the import of the public modules
of ``mixpref.models`` (by name, through importlib), so a new model file needs no entry here.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..errors import DataError

_CLASSES: dict = {}


def register(cls):
    """Record ``cls`` under its class name (also usable as a class decorator)."""
    _CLASSES[cls.__name__] = cls
    return cls


def _import_model_modules():
    package = importlib.import_module("mixpref.models")
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"mixpref.models.{info.name}")


def model_class(name: str):
    """The registered model class called ``name``; :class:`DataError` if there is none."""
    if name not in _CLASSES:
        _import_model_modules()
    if name not in _CLASSES:
        raise DataError(f"load_model: unknown model class {name!r}; expected one of {sorted(_CLASSES)}")
    return _CLASSES[name]


def registered() -> dict:
    """All model classes by name (importing every model module first)."""
    _import_model_modules()
    return dict(_CLASSES)

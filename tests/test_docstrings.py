"""The examples in the public docstrings run and print what they claim."""

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

def _modules_with_examples():
    """Every module of the package whose source holds a ``>>>`` example (derived, so none is forgotten)."""
    import mixpref

    names = ["mixpref"] + [m.name for m in pkgutil.walk_packages(mixpref.__path__, "mixpref.")]
    return [n for n in names if ">>>" in Path(importlib.util.find_spec(n).origin).read_text(encoding="utf-8")]


MODULES = _modules_with_examples()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0

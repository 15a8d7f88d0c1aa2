"""Model classes are found by name for loading; persistence imports no model class."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import mixpref as mp
from mixpref.models import _registry

MODELS = Path(mp.__file__).parent / "models"


def test_every_model_class_is_registered_by_name():
    classes = _registry.registered()
    for cls in (mp.BradleyTerry, mp.PolicyLikelihood, mp.Mixture, mp.MixtureBT, mp.MixturePL):
        assert classes[cls.__name__] is cls
        assert _registry.model_class(cls.__name__) is cls


def test_unknown_class_is_a_data_error():
    with pytest.raises(mp.DataError, match="unknown model class 'Nope'.*BradleyTerry"):
        _registry.model_class("Nope")


def test_persistence_imports_no_model_module():
    tree = ast.parse((MODELS / "persistence.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"bradley_terry", "policy_likelihood", "mixture", "_base"}


@pytest.mark.slow  # a fresh interpreter imports torch and pyro (the fast variants are above)
def test_load_model_in_a_fresh_process_finds_the_class(tmp_path):
    pop = mp.synthetic.population(n_types=2, n_annotators=10, comparisons_per_annotator=10, dim=3, random_state=0)
    m = mp.MixturePL(n_types=2, n_restarts=1).fit(pop.data, pop.features)
    m.save(tmp_path / "m")
    # only persistence is imported: the class must come from the registry's own import
    code = ("import sys; from mixpref.models.persistence import load_model; "
            f"m = load_model({str(tmp_path / 'm')!r}); "
            "assert 'mixpref.models.mixture' in sys.modules; print(type(m).__name__, type(m.base).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["MixturePL", "PolicyLikelihood"]

"""Stages import only what they use (house rule: aggregation never imports transformers or mlflow)."""

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "mlflow", "pyro", "trl", "datasets")


def _loaded_after(code):
    probe = f"import sys\n{code}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(filter(None, out.stdout.strip().split(",")))


def test_import_mixpref_is_light():
    assert _loaded_after("import mixpref") == set()


@pytest.mark.parametrize(
    "code, forbidden",
    [
        (
            "import numpy as np, mixpref as mp\n"
            "p = mp.Profile.from_rewards(np.random.rand(2, 2, 3), [0.5, 0.5])\n"
            "mp.compare_rules(p); mp.aggregate(p, 'maximal_lottery')",
            {"transformers", "mlflow", "pyro", "trl", "datasets"},
        ),
        ("import mixpref as mp\nmp.datasets.load('hh_rlhf_harmless_base').summary()", {"torch", "transformers", "mlflow", "pyro"}),
        ("import mixpref as mp\nmp.dpo.LOSSES", {"transformers", "mlflow", "trl"}),
    ],
)
def test_stage_imports(code, forbidden):
    assert not (_loaded_after(code) & forbidden)

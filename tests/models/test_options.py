"""One source for the inference options: BradleyTerry's keyword-only constructor parameters."""

import inspect

import pytest

import mixpref as mp
from mixpref.models.options import INFERENCE_DEFAULTS, inference_options, parameter_docs

# the table as it stood before it was derived from the signature (an independent record:
# a change of any default must be deliberate and show up here)
KNOWN_DEFAULTS = {
    "inference": "map", "optimizer": "lbfgs", "n_restarts": 1, "max_steps": None, "lr": 0.05, "guide": "normal",
    "svi_steps": 1000, "svi_lr": 0.01, "jit": False, "n_samples": 200, "n_members": 10, "batch_size": None,
    "memory_budget": 4e9, "design_cache": "auto", "dtype": "float32", "device": "auto", "progress": False, "random_state": 0,
}


def _keyword_only(cls):
    sig = inspect.signature(cls.__init__)
    return {n: p.default for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def test_defaults_table_agrees_with_the_signature():
    assert INFERENCE_DEFAULTS == KNOWN_DEFAULTS
    assert list(INFERENCE_DEFAULTS) == list(_keyword_only(mp.BradleyTerry))


@pytest.mark.parametrize("cls", [mp.PolicyLikelihood])
def test_every_base_model_has_the_same_options(cls):
    assert _keyword_only(cls) == _keyword_only(mp.BradleyTerry)


def test_mixture_overrides_are_inference_options():
    sig = inspect.signature(mp.Mixture.__init__)
    overrides = {n for n in sig.parameters if n in INFERENCE_DEFAULTS}
    assert overrides == {"n_restarts", "inference", "device", "random_state", "progress"}
    m = mp.Mixture(mp.BradleyTerry(lr=0.3, device="cpu"), n_restarts=3, device=None)
    opts = m._options()
    # an override wins, None means "the base model's value", the rest comes from the base
    assert (opts["n_restarts"], opts["device"], opts["lr"]) == (3, "cpu", 0.3)
    assert set(opts) == set(INFERENCE_DEFAULTS)


def test_every_option_has_help_text():
    opts = inference_options()
    assert [o.name for o in opts] == list(KNOWN_DEFAULTS)
    assert all(o.help and not o.help.startswith(":") for o in opts)
    by_name = {o.name: o for o in opts}
    assert by_name["lr"].help == "Adam learning rate."
    assert by_name["max_steps"].default is None


def test_parameter_docs_reads_numpydoc():
    doc = """Summary.

    Parameters
    ----------
    a, b : int
        First line
        second line.
    c : str

    Returns
    -------
    d : float
        Not a parameter.
    """
    assert parameter_docs(doc) == {"a": "First line second line.", "b": "First line second line.", "c": ""}
    assert parameter_docs("no sections") == {}

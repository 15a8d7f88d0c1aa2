"""The inference options, read from their one source: the base model's constructor and docstring.

``BradleyTerry``'s keyword-only constructor parameters are the inference options; their
defaults and the help text of its numpydoc ``Parameters`` section are what the defaults
table (:data:`INFERENCE_DEFAULTS`), the CLI options and the docs show, so a new option is
added in one place (a test checks that every other model's signature agrees).
:data:`INFERENCE_METHODS` lists the values ``inference`` accepts, read from the registry of
posterior methods (:data:`mixpref.models.inference.METHODS`): ``"map"``, ``"svi"``,
``"ensemble"`` and ``"laplace"`` (a Gaussian at the MAP; see
:mod:`mixpref.models.inference.laplace`).

Examples
--------
>>> from mixpref.models.options import INFERENCE_DEFAULTS, inference_options
>>> INFERENCE_DEFAULTS["optimizer"]
'lbfgs'
>>> INFERENCE_METHODS
('map', 'svi', 'ensemble', 'laplace')
>>> opt = next(o for o in inference_options() if o.name == "n_restarts")
>>> print(opt.default, opt.help)
1 Number of starts of a mixture fit (the best training objective is kept).
"""

from __future__ import annotations

import inspect
import re
from typing import Any, NamedTuple

from ._options import inference_names
from .bradley_terry import BradleyTerry
from .inference import METHODS


class InferenceOption(NamedTuple):
    """One inference option: its name, its default and a one-paragraph help text."""

    name: str
    default: Any
    help: str


def parameter_docs(doc: str) -> dict:
    """``name -> help`` from the numpydoc ``Parameters`` section of ``doc`` (one line each).

    Written by hand because numpydoc is not a dependency and the format needed is small:
    an entry is ``name : type`` (or ``a, b : type``) at the section's indentation, followed by
    its indented description; the help is the description joined into one line.
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    try:
        start = next(i for i, line in enumerate(lines[:-1])
                     if line.strip() == "Parameters" and set(lines[i + 1].strip()) == {"-"}) + 2
    except StopIteration:
        return {}
    out, names, body = {}, [], []

    def flush():
        for name in names:
            out[name] = " ".join(body).strip()

    for i in range(start, len(lines)):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and set(lines[i + 1].strip()) == {"-"}:
            break  # the next section
        if line and not line[0].isspace():
            flush()
            names = [n.strip() for n in re.split(r"\s*:\s*", line, maxsplit=1)[0].split(",") if n.strip()]
            body = []
        elif line.strip():
            body.append(line.strip())
    flush()
    return out


def inference_options(model_class=BradleyTerry) -> list:
    """The inference options of ``model_class`` as :class:`InferenceOption` (name, default, help), in
    signature order.

    The CLI builds its options from this list; the help is the first paragraph of the
    parameter's numpydoc entry.
    """
    sig = inspect.signature(model_class.__init__)
    docs = parameter_docs(model_class.__doc__)
    return [InferenceOption(name, sig.parameters[name].default, docs.get(name, ""))
            for name in inference_names(model_class)]


# the values of the ``inference`` option (what runs after the MAP fit)
INFERENCE_METHODS = tuple(METHODS)

# name -> default, derived from the signature above (never edited by hand)
INFERENCE_DEFAULTS = {opt.name: opt.default for opt in inference_options()}

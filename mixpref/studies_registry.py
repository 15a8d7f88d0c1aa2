"""The studies shipped in the repository's ``studies/`` folder, and how to load one.

Each study is a script with ``main(argv)`` (``--small`` for a quick run). The scripts live
outside the package, in ``studies/<name>.py`` at the repository root, so they are loaded by
path when run (``mixpref study run NAME``), never at import.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import NamedTuple

# repository root: the folder that holds mixpref/ and studies/
REPO_ROOT = Path(__file__).resolve().parent.parent

# where `mixpref study run NAME --small` writes (relative to the working directory, like every
# run's outputs): never the committed full results in studies/results/
SMALL_RESULTS = Path("mixpref-runs") / "studies-small"


class StudySpec(NamedTuple):
    """A registered study: its script, what it shows, and whether it has a ``--small`` smoke run."""

    script: str
    description: str
    small: bool = True


def spec(name) -> StudySpec:
    """The :class:`StudySpec` of a registered study (entries may be plain ``(script, description)`` tuples)."""
    study_script(name)  # the KeyError for an unknown name
    return StudySpec(*STUDIES[name])


# name -> (script path, relative to the repository root or absolute; one-line description[; has --small])
STUDIES = {
    "curse": (
        "studies/curse.py",
        "DPO's implicit-reward gradient equals the BT reward gradient; the normaliser cancels; unseen responses never move.",
    ),
    "mixture_recovery": (
        "studies/mixture_recovery.py",
        "ARI, reward cosine and held-out log-likelihood vs comparisons per annotator and signal strength (K = 3).",
    ),
    "aggregation_rules": (
        "studies/aggregation_rules.py",
        "Each type's win rate under majority, pooled, Copeland, maximal lottery and max-min; who is left behind.",
    ),
    "real_annotators": (
        "studies/real_annotators.py",
        "UKPConvArg1 and survey data: K selection, the types found, the rules compared.",
    ),
    "dpo_targets": (
        "studies/dpo_targets.py",
        "Targets from each rule -> tabular DPO -> each type's win rate of the trained policy; one tiny LM run.",
    ),
    "iterative": (
        "studies/iterative.py",
        "Fit, aggregate, train, sample, ask again: self-play vs pooled training on a Condorcet cycle (tabular and tiny LM).",
    ),
    "personalization": (
        "studies/personalization.py",
        "Single BT, mixtures (with shrinkage) and low-rank persons: seen/unseen splits and few-shot adaptation curves.",
    ),
    "uncertainty": (
        "studies/uncertainty.py",
        "Posteriors through the rule: interval coverage, support probability vs data size, conservative targets, audits.",
    ),
    "active_learning": (
        "studies/active_learning.py",
        "Which question next: population learning, onboarding, decisions and a UKPConvArg1 replay, each objective vs random.",
    ),
    "ukp_models": StudySpec(
        "studies/ukp_models.py",
        "UKPConvArg1: single Bradley-Terry vs the selected mixture, held-out log-likelihood by annotator and observation split.",
        small=False,
    ),
}


def study_script(name) -> Path:
    """The script of a registered study.

    Raises
    ------
    KeyError
        ``name`` is not registered (the message lists the registered names).

    Examples
    --------
    >>> study_script("curse").name
    'curse.py'
    """
    if name not in STUDIES:
        raise KeyError(f"unknown study {name!r}; expected one of: {', '.join(sorted(STUDIES))}")
    path = Path(STUDIES[name][0])
    return path if path.is_absolute() else REPO_ROOT / path


def load_study(name):
    """Import a registered study's script and return the module (it has ``main(argv)``).

    Raises
    ------
    KeyError
        Unknown name.
    FileNotFoundError
        The script is not there (e.g. mixpref installed without the repository).

    Examples
    --------
    >>> load_study("curse").main(["--small"])  # doctest: +SKIP
    """
    path = study_script(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"study {name!r} is registered but its script {path} does not exist "
            "(studies run from a clone of the mixpref repository)"
        )
    module_name = f"mixpref_study_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    if not callable(getattr(module, "main", None)):
        raise AttributeError(f"study script {path} has no main(argv) function")
    return module

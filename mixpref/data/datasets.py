"""Datasets shipped with mixpref (each folder under ``data/`` keeps its SOURCE.md).

Only permissively licensed data is bundled: UKPConvArg1 (CC BY 4.0) and the HH-RLHF
harmless-base test pairs (MIT). Other sets (GPL survey data, PrefLib) are read from a path.

Examples
--------
>>> import mixpref as mp
>>> "ukpconvarg1" in mp.datasets.list()
True
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .preference_data import PreferenceData

_DESCRIPTIONS = {
    "ukpconvarg1": "UKPConvArg1: 84,445 crowd judgments of argument convincingness by 3,815 workers, "
    "23% ties, 1,052 arguments in 32 topics (Habernal & Gurevych 2016; CC BY 4.0).",
    "hh_rlhf_harmless_base": "Anthropic HH-RLHF harmless-base test split: 2,312 chosen/rejected dialogue "
    "pairs, no annotator ids (Bai et al. 2022; MIT). Contains offensive text.",
}


def data_root() -> Path:
    """Folder of the bundled datasets: inside an installed wheel, or the repository's data/."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "_bundled_data", here.parents[2] / "data"):
        if (candidate / "ukpconvarg1").is_dir():
            return candidate
    raise FileNotFoundError("mixpref's bundled data folder is missing; reinstall the package")


def list() -> builtins.list:  # shadows the builtin on purpose: the documented public name
    """Names accepted by :func:`load`."""
    return sorted(_DESCRIPTIONS)


def describe(name: str) -> str:
    """One line on the dataset: what, how many, origin and license (see its SOURCE.md)."""
    _check(name)
    return _DESCRIPTIONS[name]


def source(name: str) -> str:
    """The dataset's SOURCE.md (origin, license, format)."""
    _check(name)
    return (data_root() / name / "SOURCE.md").read_text()


def _check(name):
    if name not in _DESCRIPTIONS:
        raise DataError(f"datasets: unknown dataset {name!r}; expected one of {list()}")


def load(name: str) -> PreferenceData:
    """Load a bundled dataset as :class:`~mixpref.PreferenceData` (texts included).

    ``"ukpconvarg1"``: prompts are the 32 debate sides (topic), responses the arguments
    (ids ``arg...``, texts), annotators the pseudonymised workers; ``label`` a/b/tie.
    ``"hh_rlhf_harmless_base"``: implicit-prompt chosen/rejected pairs (TRL's format).

    Examples
    --------
    >>> import mixpref as mp
    >>> data = mp.datasets.load("ukpconvarg1")
    >>> len(data), len(data.annotators), data.summary().n_ties
    (84445, 3815, 19105)
    """
    _check(name)
    root = data_root() / name
    if name == "ukpconvarg1":
        return _load_ukp(root)
    frame = pd.read_json(root / "test.jsonl.gz", lines=True, compression="gzip")
    # Anthropic's convention: the prompt is the dialogue up to the last "Assistant:" turn
    # (a plain common prefix would cut into a reply when one reply is a prefix of the other)
    marker = "\n\nAssistant:"
    def cut_at(chosen, rejected):
        common = len(os.path.commonprefix([chosen, rejected]))
        at = chosen.rfind(marker, 0, common + 1)
        return at + len(marker) if at >= 0 else common  # no marker: the plain common prefix

    cut = [cut_at(c, r) for c, r in zip(frame["chosen"], frame["rejected"])]
    frame["prompt"] = [c[:k] for c, k in zip(frame["chosen"], cut)]
    frame["chosen"] = [c[k:] for c, k in zip(frame["chosen"], cut)]
    frame["rejected"] = [r[k:] for r, k in zip(frame["rejected"], cut)]
    return PreferenceData.from_pairs(frame)


def _load_ukp(root: Path) -> PreferenceData:
    judgments = pd.read_csv(
        root / "ukpconvarg1_full_judgments.csv.gz",
        usecols=["topic", "arg1_id", "arg2_id", "worker", "label"],
        dtype=str,
    )
    arguments = pd.read_csv(root / "ukpconvarg1_arguments.csv", dtype=str)
    judgments["label"] = judgments["label"].map({"a1": "a", "a2": "b", "equal": "tie"}).fillna(judgments["label"])
    responses = arguments.rename(columns={"arg_id": "response_id", "topic": "prompt_id"})[
        ["response_id", "prompt_id", "text"]
    ]
    prompts = pd.DataFrame({"prompt_id": arguments["topic"].unique()})
    prompts["text"] = [_topic_text(t) for t in prompts["prompt_id"]]
    return PreferenceData.from_frame(
        judgments,
        prompt="topic",
        response_a="arg1_id",
        response_b="arg2_id",
        label="label",
        annotator="worker",
        responses=responses,
        prompts=prompts,
    )


def _topic_text(topic: str) -> str:
    # "ban-plastic-water-bottles_no-bad-for-the-economy" -> "ban plastic water bottles: no bad for the economy"
    debate, _, side = topic.partition("_")
    return f"{debate.replace('-', ' ').strip()}: {side.replace('-', ' ').strip()}"

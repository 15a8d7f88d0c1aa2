"""The registry of social-choice rules: each rule's name, function and what it needs.

A rule is a public function ``rule(profile, **options) -> Lottery`` declared with
:func:`register`. ``RULES``, :func:`mixpref.aggregate`, :func:`mixpref.compare_rules`, the
audit and the CLI's rule list all read this registry, so a rule is named once: where it is
defined.

The decorated function computes the lottery's parts ``(probs, scores, metadata)``; the
registered public function checks the profile and the options, and wraps the parts in a
:class:`~mixpref.aggregation.lottery.Lottery`. ``RuleSpec.compute`` keeps the raw parts
function for callers that batch a rule themselves (e.g. over posterior draws).

Examples
--------
>>> from mixpref.aggregation.registry import get_rule, rule_table
>>> rule_table().loc["maximal_lottery", "reads"]
'pooled'
>>> spec = get_rule("kemeny")
>>> spec.reads, spec.max_candidates
('type_majority', 12)
>>> get_rule("quantile").needs_samples
True
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import sys
from dataclasses import dataclass, field
from typing import Callable

from ..errors import DataError
from .lottery import Lottery
from .profile import Profile

# what a rule reads from the profile
READS = {
    "pooled": "the pooled matrix P̄ = Σ_k w_k P_k only (what one model fitted to everyone sees)",
    "type_majority": "each type's majority preference, weighted by type weight (per-type matrices)",
    "type_utilities": "each type's utility of each candidate (per-type matrices, or rewards)",
    "pooled_samples": "the pooled matrix of every posterior sample (profile.samples)",
}

_REGISTRY: dict = {}


@dataclass(frozen=True)
class RuleSpec:
    """What one rule is and needs.

    Attributes
    ----------
    name : str
    func : callable
        The public rule, ``func(profile, **options) -> Lottery``.
    compute : callable
        The raw rule, ``compute(profile, **options) -> (probs, scores, metadata)``.
    reads : str
        One of :data:`READS`: ``"pooled"`` (needs only the pooled matrix; a one-type
        profile of the pooled matrix gives the same lottery), ``"type_majority"``,
        ``"type_utilities"`` (both need per-type matrices) or ``"pooled_samples"``.
    needs_samples : bool
        Needs posterior samples (``profile.samples``).
    max_candidates : int or None
        Largest number of candidates per prompt the rule handles (None: no limit).
    accepts_utility : bool
        Takes a ``utility`` option (``"winrate"`` or ``"reward"``; ``"reward"`` needs
        ``profile.rewards``).
    worst_case : bool
        The rule judges a candidate by its worst-off type (or posterior draw) rather than by
        the type-weighted average: ``maxmin``, ``minmax_regret``, ``quantile``.
    options : dict
        Option names and defaults, from the function's signature.
    summary : str
        The first paragraph of the rule's docstring.
    score : str
        What the lottery's ``scores`` mean for this rule (the docstring's "Score:" sentence,
        else the summary).
    """

    name: str
    func: Callable
    compute: Callable
    reads: str
    needs_samples: bool = False
    max_candidates: int | None = None
    accepts_utility: bool = False
    worst_case: bool = False
    options: dict = field(default_factory=dict)
    summary: str = ""
    score: str = ""

    @property
    def needs_types(self):
        """Whether the rule reads per-type preferences (not only the pooled matrix)."""
        return self.reads in ("type_majority", "type_utilities")

    def needs_rewards(self, options=None):
        """Whether, with these options, the rule reads ``profile.rewards``."""
        if not self.accepts_utility:
            return False
        return {**self.options, **(options or {})}.get("utility") == "reward"

    def unmet(self, profile, options=None):
        """Why the rule cannot run on ``profile`` with ``options`` (a sentence), or None."""
        if self.needs_samples and profile.samples is None:
            return "needs posterior samples (fit with inference='svi', 'laplace' or an ensemble)"
        if self.needs_rewards(options) and profile.rewards is None:
            return "needs per-type rewards (utility='reward') and the profile has none"
        if self.max_candidates is not None and profile.mask.shape[1] > self.max_candidates:
            return f"handles at most {self.max_candidates} candidates per prompt; the profile has up to {profile.mask.shape[1]}"
        return None

    def check_options(self, options):
        """Raise DataError on an option the rule does not accept."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            accepted = sorted(self.options) if self.options else "no options"
            raise DataError(f"rule {self.name!r}: unknown option(s) {unknown}; it accepts {accepted}")


def register(reads, *, name=None, needs_samples=False, max_candidates=None, worst_case=False):
    """Declare a rule: decorate ``compute(profile, **options) -> (probs, scores, metadata)``.

    Returns the public function ``rule(profile, **options) -> Lottery`` (same name,
    signature and docstring) and records a :class:`RuleSpec`. ``reads`` is one of
    :data:`READS`; a rule accepts ``utility`` when its signature has that option.
    """
    if reads not in READS:
        raise ValueError(f"reads: got {reads!r}; expected one of {sorted(READS)}")

    def decorate(compute):
        rule = name or compute.__name__.lstrip("_")
        if rule in _REGISTRY:
            raise ValueError(f"rule {rule!r} is registered twice")
        params = list(inspect.signature(compute).parameters.values())[1:]
        options = {p.name: p.default for p in params}

        @functools.wraps(compute)
        def public(profile, **opts):
            return _apply(_REGISTRY[rule], profile, opts)

        public.__name__ = public.__qualname__ = rule
        doc = inspect.getdoc(compute) or ""
        _REGISTRY[rule] = RuleSpec(
            name=rule,
            func=public,
            compute=compute,
            reads=reads,
            needs_samples=needs_samples,
            max_candidates=max_candidates,
            accepts_utility="utility" in options,
            worst_case=worst_case,
            options=options,
            summary=_one_line(doc.split("\n\n")[0]),
            score=_score_sentence(doc),
        )
        return public

    return decorate


def _one_line(text):
    return " ".join(text.split())


def _score_sentence(doc):
    """The docstring's sentence that defines the rule's score ("Score: ..." or "score = ...")."""
    flat = _one_line(doc)
    match = re.search(r"\b[Ss]core[:=]\s*(.+?\.)(\s|$)", flat)
    return match.group(1) if match else _one_line(doc.split("\n\n")[0])


def _apply(spec, profile, options):
    if not isinstance(profile, Profile):
        raise DataError(f"profile: expected a mixpref Profile, got {type(profile).__name__}")
    spec.check_options(options)
    if spec.max_candidates is not None and profile.mask.shape[1] > spec.max_candidates:
        raise DataError(
            f"rule {spec.name!r}: {spec.unmet(profile, options)}; choose another rule or fewer candidates"
        )
    probs, scores, meta = spec.compute(profile, **options)
    meta = {"options": {**spec.options, **options}, **meta}
    return Lottery(
        probs,
        scores,
        spec.name,
        metadata=meta,
        prompts=profile.prompts,
        candidates=profile.candidates,
        mask=profile.mask,
        pairwise=profile.pooled(),
        texts=profile.texts,
    )


def _load_rules():
    # the rules register themselves when their module is imported; importing it by name here
    # (not with an import statement) keeps the module graph acyclic: rules -> registry only
    if "mixpref.aggregation.rules" not in sys.modules:
        importlib.import_module("mixpref.aggregation.rules")


def get_rule(name):
    """The :class:`RuleSpec` of a registered rule; DataError naming the registered ones otherwise."""
    _load_rules()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise DataError(f"rule: got {name!r}; expected one of {', '.join(_REGISTRY)}") from None


def rule_names():
    """Names of the registered rules, in registration order."""
    _load_rules()
    return tuple(_REGISTRY)


def rule_specs():
    """The registered :class:`RuleSpec` objects, in registration order."""
    _load_rules()
    return tuple(_REGISTRY.values())


def rule_table():
    """One row per rule: what it reads and needs, its options and its summary (a DataFrame)."""
    import pandas as pd

    _load_rules()
    rows = [
        {
            "rule": s.name,
            "reads": s.reads,
            "needs_samples": s.needs_samples,
            "max_candidates": s.max_candidates,
            "accepts_utility": s.accepts_utility,
            "worst_case": s.worst_case,
            "options": s.options,
            "summary": s.summary,
            "score": s.score,
        }
        for s in _REGISTRY.values()
    ]
    return pd.DataFrame(rows).set_index("rule")

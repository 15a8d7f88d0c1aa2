"""Registering a rule, checked field by field (written to kill mutmut survivors; tests/MUTATION.md).

The real rules register themselves once, at import, before any test runs, so a bug in
``register`` would only show in what it recorded then. These tests register a probe rule
while the test runs and compare every recorded field with the value written out by hand.
"""

import numpy as np
import pytest

import mixpref as mp
from mixpref.aggregation import registry
from mixpref.aggregation.registry import get_rule, register


def _probe(profile, alpha=0.25, utility="winrate"):
    """A probe rule  that  picks
    the first candidate.

    Score: the candidate's index. Other text.
    """
    probs = np.zeros(profile.mask.shape)
    probs[:, 0] = 1.0
    scores = np.tile(np.arange(profile.mask.shape[1], dtype=float), (profile.mask.shape[0], 1))
    return probs, scores, {"alpha_seen": alpha}


def _plain(profile):
    """No score sentence here.

    Second paragraph."""
    return np.ones(profile.mask.shape) / profile.mask.shape[1], np.zeros(profile.mask.shape), {}


@pytest.fixture
def scratch_registry():
    registry.rule_names()  # the real rules first, so that they are restored afterwards
    before = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)


def test_register_records_every_field(scratch_registry):
    public = register("type_utilities", name="h13_probe", needs_samples=True, max_candidates=5, worst_case=True)(_probe)
    spec = get_rule("h13_probe")
    assert spec.name == "h13_probe"
    assert spec.func is public and spec.compute is _probe
    assert public.__name__ == "h13_probe" and public.__qualname__ == "h13_probe"
    assert public.__doc__ == _probe.__doc__
    assert spec.reads == "type_utilities"
    assert spec.needs_samples is True and spec.max_candidates == 5 and spec.worst_case is True
    assert spec.accepts_utility is True
    assert spec.options == {"alpha": 0.25, "utility": "winrate"}
    # first paragraph, whitespace collapsed to single spaces
    assert spec.summary == "A probe rule that picks the first candidate."
    assert spec.score == "the candidate's index."
    assert spec.needs_types is True


def test_register_defaults_and_name_from_function(scratch_registry):
    def _h13_defaults(profile):
        """Default flags.

        score: twice the weight."""
        return np.ones(profile.mask.shape), np.zeros(profile.mask.shape), {}

    public = register("pooled")(_h13_defaults)
    spec = get_rule("h13_defaults")  # the leading underscore is stripped
    assert public.__name__ == "h13_defaults"
    assert (spec.needs_samples, spec.max_candidates, spec.worst_case, spec.accepts_utility) == (False, None, False, False)
    assert spec.options == {} and spec.summary == "Default flags."
    assert spec.score == "twice the weight."
    assert spec.needs_types is False


def test_score_sentence_falls_back_to_the_summary(scratch_registry):
    register("pooled", name="h13_plain")(_plain)
    spec = get_rule("h13_plain")
    assert spec.score == "No score sentence here." == spec.summary


def test_registered_public_function_wraps_the_parts(scratch_registry):
    public = register("pooled", name="h13_probe2")(_probe)
    prof = mp.Profile(np.full((2, 1, 3, 3), 0.5), weights=[1.0], prompts=["a", "b"])
    lot = public(prof, alpha=0.5)
    assert isinstance(lot, mp.Lottery) and lot.rule == "h13_probe2"
    np.testing.assert_array_equal(lot.probs, [[1, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(lot.scores, [[0, 1, 2], [0, 1, 2]])
    assert lot.metadata["options"] == {"alpha": 0.5, "utility": "winrate"}
    assert lot.metadata["alpha_seen"] == 0.5
    assert list(lot.prompts) == ["a", "b"]
    with pytest.raises(mp.DataError, match=r"rule 'h13_probe2': unknown option\(s\) \['beta'\]; it accepts \['alpha', 'utility'\]"):
        public(prof, beta=1)
    with pytest.raises(mp.DataError, match="profile: expected a mixpref Profile, got ndarray"):
        public(np.zeros(3))


def test_unknown_option_of_a_rule_without_options(scratch_registry):
    public = register("pooled", name="h13_plain2")(_plain)
    prof = mp.Profile(np.full((1, 1, 2, 2), 0.5), weights=[1.0])
    with pytest.raises(mp.DataError, match=r"unknown option\(s\) \['x'\]; it accepts no options"):
        public(prof, x=1)


def test_register_refusals_name_the_problem(scratch_registry):
    with pytest.raises(ValueError, match=r"reads: got 'nothing'; expected one of \['pooled', 'pooled_samples', 'type_majority', 'type_utilities'\]"):
        register("nothing")
    register("pooled", name="h13_twice")(_plain)
    with pytest.raises(ValueError, match=r"rule 'h13_twice' is registered twice"):
        register("pooled", name="h13_twice")(_plain)


def test_unmet_and_needs_rewards():
    prof = mp.Profile(np.full((1, 1, 13, 13), 0.5), weights=[1.0])
    assert get_rule("quantile").unmet(prof) == "needs posterior samples (fit with inference='svi', 'laplace' or an ensemble)"
    assert get_rule("utilitarian").unmet(prof) == "needs per-type rewards (utility='reward') and the profile has none"
    assert get_rule("kemeny").unmet(prof) == "handles at most 12 candidates per prompt; the profile has up to 13"
    assert get_rule("borda").unmet(prof) is None
    assert get_rule("maxmin").unmet(prof) is None
    assert get_rule("maxmin").unmet(prof, {"utility": "reward"}).startswith("needs per-type rewards")
    assert get_rule("borda").needs_rewards({"utility": "reward"}) is False
    with pytest.raises(mp.DataError, match=r"rule 'kemeny': handles at most 12 candidates per prompt; the profile has up "
                                           r"to 13; choose another rule or fewer candidates"):
        mp.aggregate(prof, "kemeny")


def test_get_rule_lists_the_registered_names():
    with pytest.raises(mp.DataError, match=r"rule: got 'nope'; expected one of majority, pooled, borda, copeland, kemeny, maximal_lottery, "
                                           r"utilitarian, maxmin, minmax_regret, quantile, dictator$"):
        get_rule("nope")
    with pytest.raises(mp.DataError, match=r"rule: got \['x'\]"):
        get_rule(["x"])  # unhashable: TypeError is reported the same way


def test_rule_table_columns():
    table = registry.rule_table()
    assert table.index.name == "rule"
    assert list(table.columns) == ["reads", "needs_samples", "max_candidates", "accepts_utility", "worst_case",
                                   "options", "summary", "score"]
    assert table.loc["kemeny", "max_candidates"] == 12
    assert table.loc["quantile", "needs_samples"] and table.loc["maxmin", "worst_case"]
    assert table.loc["borda", "options"] == {}
    assert registry.rule_specs()[0].name == registry.rule_names()[0] == "majority"


def test_a_rule_without_docstring_has_empty_summary_and_score(scratch_registry):
    def h13_bare(profile):
        return np.ones(profile.mask.shape), np.zeros(profile.mask.shape), {}

    register("pooled")(h13_bare)
    spec = get_rule("h13_bare")
    assert spec.summary == "" and spec.score == ""


def test_only_leading_underscores_are_stripped_from_the_name(scratch_registry):
    def _Xh13_rule_(profile):
        """Strip only underscores."""
        return np.ones(profile.mask.shape), np.zeros(profile.mask.shape), {}

    register("pooled")(_Xh13_rule_)
    assert get_rule("Xh13_rule_").name == "Xh13_rule_"


def test_reading_the_registry_imports_the_rules_module_when_needed(scratch_registry, monkeypatch):
    import sys

    import mixpref.aggregation as package

    saved = tuple(registry._REGISTRY)
    # the rules module and the package attribute come back afterwards (the import below rebinds the attribute)
    monkeypatch.delitem(sys.modules, "mixpref.aggregation.rules")
    monkeypatch.setattr(package, "rules", package.rules)
    registry._REGISTRY.clear()
    names = registry.rule_names()  # imports the rules module afresh, which registers them
    assert names == saved and "mixpref.aggregation.rules" in sys.modules

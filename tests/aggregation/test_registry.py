"""The rule registry: every rule is a public function, named once, with what it needs on record."""

import ast
import pathlib

import numpy as np
import pytest

import mixpref as mp
from mixpref import events
from mixpref.aggregation import rules
from mixpref.aggregation.diagnostics import applicable_rules
from mixpref.aggregation.registry import READS, get_rule, register, rule_specs, rule_table

PACKAGE = pathlib.Path(mp.__file__).parent


def test_registry_records_what_each_rule_needs():
    assert mp.RULES == tuple(s.name for s in rule_specs())
    # known facts about the rules, written out by hand (the oracle is the textbook definition)
    assert get_rule("kemeny").max_candidates == 12
    assert get_rule("quantile").needs_samples and get_rule("quantile").reads == "pooled_samples"
    assert {s.name for s in rule_specs() if s.reads == "pooled"} == {"pooled", "borda", "maximal_lottery"}
    assert {s.name for s in rule_specs() if s.reads == "type_majority"} == {"majority", "copeland", "kemeny"}
    assert {s.name for s in rule_specs() if s.accepts_utility} == {"utilitarian", "maxmin", "minmax_regret", "dictator"}
    assert get_rule("utilitarian").needs_rewards() and not get_rule("maxmin").needs_rewards()
    assert get_rule("maxmin").needs_rewards({"utility": "reward"})
    assert get_rule("maximal_lottery").options["method"] == "lp"
    assert {s.name for s in rule_specs() if s.worst_case} == {"maxmin", "minmax_regret", "quantile"}
    assert rules.rule_options("dictator") == {"type": None, "utility": "winrate"}
    table = rule_table()
    assert list(table.index) == list(mp.RULES) and set(table["reads"]) <= set(READS)
    assert all(table["summary"].str.len() > 10) and all(table["score"].str.len() > 5)
    assert get_rule("maximal_lottery").score.startswith("the candidate's expected margin against the lottery")
    with pytest.raises(mp.DataError, match="expected one of"):
        get_rule("plurality")


def test_each_rule_is_a_public_function_equal_to_aggregate(bt_mixture):
    samples = bt_mixture.matrices[None].repeat(2, axis=0)
    prof = mp.Profile(bt_mixture.matrices[:10], bt_mixture.weights[:10], rewards=bt_mixture.rewards[:10], samples=samples[:, :10])
    for name in mp.RULES:
        func = getattr(rules, name)
        assert func is get_rule(name).func and func.__name__ == name
        direct = func(prof)
        assert isinstance(direct, mp.Lottery) and direct.rule == name
        np.testing.assert_array_equal(direct.probs, mp.aggregate(prof, name).probs)
    assert rules.maximal_lottery(prof, method="lp").metadata["options"]["method"] == "lp"
    with pytest.raises(mp.DataError, match="unknown option"):
        rules.borda(prof, temperature=1.0)


def test_aggregate_emits_one_event_per_call(bt_mixture):
    seen = []

    def observe(name, payload):
        seen.append((name, payload["rule"], payload["study"]))

    handle = events.subscribe(observe)
    try:
        mp.aggregate(mp.Profile(bt_mixture.matrices[:2], bt_mixture.weights[:2]), "borda", study=False)
    finally:
        events.unsubscribe(handle)
    assert seen == [("aggregate", "borda", False)]


def test_skipped_rules_say_why(bt_mixture):
    prof = mp.Profile(bt_mixture.matrices[:3], bt_mixture.weights[:3])
    names, skipped = applicable_rules(prof)
    assert set(skipped) == {"utilitarian", "quantile"}
    assert "samples" in skipped["quantile"] and "rewards" in skipped["utilitarian"]
    assert mp.compare_rules(prof).attrs["skipped"] == skipped
    big = mp.Profile(np.full((1, 1, 13, 13), 0.5), weights=[1.0])
    assert "at most 12" in applicable_rules(big)[1]["kemeny"]
    with pytest.raises(mp.DataError, match="at most 12"):
        mp.aggregate(big, "kemeny")


def test_register_refuses_a_second_rule_of_the_same_name():
    with pytest.raises(ValueError, match="twice"):
        register("pooled", name="borda")(lambda profile: None)
    with pytest.raises(ValueError, match="reads"):
        register("everything")


def test_no_list_of_rule_names_in_the_package():
    """Rule names are listed once, by the registry: no literal list/tuple/set of two or more."""
    names = set(mp.RULES)
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
                found = [e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in names]
                if len(found) >= 2:
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {found}")
    assert not offenders, offenders


def test_registry_alone_finds_the_rules():
    """Reading the registry without importing the rules module first still lists every rule."""
    import subprocess
    import sys

    code = "from mixpref.aggregation.registry import rule_names; print(len(rule_names()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == len(mp.RULES) == 11

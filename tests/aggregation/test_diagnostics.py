"""compare_rules: whom each rule serves, checked against hand-computed cases and pref_voting."""

import numpy as np
import pytest

import mixpref as mp
from mixpref.aggregation.diagnostics import type_satisfaction

from ._elections import random_voter_profiles, stack_elections, voter_matrices


def test_compare_rules_columns_and_reference_values(bt_mixture):
    prof = mp.Profile(bt_mixture.matrices[:60], bt_mixture.weights[:60], rewards=bt_mixture.rewards[:60])
    table = mp.compare_rules(prof)
    assert list(table.index) == [r for r in mp.RULES if r != "quantile"]  # no samples: no quantile
    for k in range(3):
        assert {f"type{k}_vs_uniform", f"type{k}_vs_favourite"} <= set(table.columns)
    for col in ("worst_type", "worst_vs_uniform", "condorcet_prompts", "condorcet_chosen", "cycle_prompts",
                "pareto_violations", "dominated_mass", "exploitability", "support", "mean_vs_uniform"):
        assert col in table.columns
    # the maximal lottery is unbeatable under the pooled matrix; Condorcet-consistent rules
    # always choose the (weighted-majority) Condorcet winner
    assert table.loc["maximal_lottery", "exploitability"] <= 1e-9
    for rule in ("majority", "copeland", "kemeny"):
        assert table.loc[rule, "condorcet_chosen"] == 1.0
    # maxmin maximises the worst type's win rate on every prompt, so also on average over
    # prompts it is at least every other rule's per-prompt minimum
    u = prof.utilities("winrate")
    for rule in mp.RULES:
        if rule in table.index:
            lot = mp.aggregate(prof, rule)
            worst = np.einsum("pki,pi->pk", u, lot.probs).min(axis=1)
            maxmin = np.einsum("pki,pi->pk", u, mp.aggregate(prof, "maxmin").probs).min(axis=1)
            assert (maxmin >= worst - 1e-9).all(), rule


def test_type_satisfaction_by_hand():
    # one prompt, two types with opposite rankings of 3 candidates
    mats = np.stack([voter_matrices([[0, 1, 2]], 3)[0], voter_matrices([[2, 1, 0]], 3)[0]])[None]
    prof = mp.Profile(mats, weights=[0.5, 0.5])
    vs_u, vs_f = type_satisfaction(prof, np.array([[1.0, 0.0, 0.0]]))
    # candidate 0 vs a uniform draw: type 0 wins 1/2 (self) + 1 + 1 over 3; type 1 loses both
    np.testing.assert_allclose(vs_u, [[2.5 / 3, 0.5 / 3]])
    np.testing.assert_allclose(vs_f, [[0.5, 0.0]])
    table = mp.compare_rules(prof, rules=["dictator", "maxmin"], options={"dictator": {"type": 1}})
    assert table.loc["dictator", "type1_vs_favourite"] == pytest.approx(0.5)
    assert table.loc["dictator", "worst_type"] == 0
    assert table.loc["maxmin", "worst_vs_uniform"] == pytest.approx(0.5)


def test_cycles_condorcet_and_smith_sets_match_pref_voting():
    import itertools

    pv = pytest.importorskip("pref_voting.profiles")
    from pref_voting.c1_methods import smith_set

    # odd electorates: no majority ties, so a cycle exists iff some triple is a 3-cycle
    elections = random_voter_profiles(80, seed=21, min_voters=3, max_voters=3) + random_voter_profiles(
        80, seed=22, min_voters=5, max_voters=5
    )
    prof = stack_elections(elections)
    table = mp.compare_rules(prof, rules=["borda", "majority"])
    profiles = [pv.Profile(e) for e in elections]
    n_cw = sum(p.condorcet_winner() is not None for p in profiles)
    n_cycles = 0
    for p, e in zip(profiles, elections):
        m = len(e[0])
        n_cycles += any(
            (p.margin(a, b) > 0 and p.margin(b, c) > 0 and p.margin(c, a) > 0)
            for a, b, c in itertools.permutations(range(m), 3)
        )
    assert (table["condorcet_prompts"] == n_cw).all()
    assert (table["cycle_prompts"] == n_cycles).all()
    assert n_cycles >= 20
    # the majority rule's lottery is uniform over pref_voting's Smith set
    lot = mp.aggregate(prof, "majority")
    for i, p in enumerate(profiles):
        assert np.flatnonzero(lot.probs[i] > 0).tolist() == sorted(smith_set(p))
    assert table.loc["borda", "pareto_violations"] == 0


def test_pareto_violation_is_counted():
    # everyone prefers 0 to 1; a lottery on 1 violates Pareto
    mats = np.stack([voter_matrices([[0, 1, 2]], 3)[0], voter_matrices([[2, 0, 1]], 3)[0]])[None]
    prof = mp.Profile(mats, weights=[0.9, 0.1])
    table = mp.compare_rules(prof, rules=["dictator"], options={"dictator": {"type": 0}})
    assert table.loc["dictator", "pareto_violations"] == 0
    mats = np.stack([voter_matrices([[1, 0, 2]], 3)[0], voter_matrices([[0, 1, 2]], 3)[0]])[None]
    mats[0, 0, 0, 1], mats[0, 0, 1, 0] = 0.5, 0.5  # type 0 indifferent between 0 and 1
    prof = mp.Profile(mats, weights=[0.9, 0.1])
    lot = mp.aggregate(prof, "dictator", type=0)
    table = mp.compare_rules(prof, rules=["dictator"], options={"dictator": {"type": 0}})
    assert lot.probs[0, 1] > 0
    assert table.loc["dictator", "pareto_violations"] == 1


def test_compare_rules_bad_options(bt_mixture):
    with pytest.raises(mp.DataError, match="not among the rules"):
        mp.compare_rules(bt_mixture, rules=["borda"], options={"maxmin": {}})

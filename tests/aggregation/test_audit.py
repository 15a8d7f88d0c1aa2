"""The social-choice audit against known answers and pref_voting.

Hand-made profiles give exact counts for the Pareto, Condorcet and pairwise-majority
(PMC) columns; random voter elections (the pref_voting oracle elections) check the same
columns against pref_voting's Pareto set, Condorcet winners and Borda scores.
"""

import numpy as np
import pandas as pd
import pytest

import mixpref as mp
from mixpref.aggregation.audit import _boost, audit
from mixpref.aggregation.selfplay import exploitability

from ._elections import random_voter_profiles, stack_elections, voter_matrices


def _profile_of(rankings, weights):
    """One prompt; one deterministic type per ranking (best first)."""
    m = len(rankings[0])
    return mp.Profile(voter_matrices(rankings, m)[None], weights=np.asarray(weights, float))


def _ge_profile():
    # three voters a>b>c, two voters b>c>a: the pairwise majority is the linear order a>b>c,
    # but Borda (and a Bradley–Terry fit to the pooled comparisons, which ranks like Borda on
    # complete data) puts b first: b's Borda score 7 beats a's 6 (Ge et al. 2024's failure of PMC)
    return _profile_of([[0, 1, 2], [1, 2, 0]], [0.6, 0.4])


def test_ge_example_bt_ranking_disagrees_with_the_pairwise_majority():
    table = audit(_ge_profile(), rules=["pooled", "borda", "copeland", "kemeny", "majority", "maximal_lottery"])
    assert table["pmc_prompts"].tolist() == [1] * 6
    assert table.loc["pooled", "pmc_consistent"] == 0.0
    assert table.loc["pooled", "pmc_score_consistent"] == 0.0  # BT strengths rank b first
    assert table.loc["borda", "pmc_consistent"] == 0.0
    for rule in ("copeland", "kemeny", "majority", "maximal_lottery"):  # Condorcet-consistent
        assert table.loc[rule, "pmc_consistent"] == 1.0, rule
    assert table.loc["copeland", "pmc_score_consistent"] == 1.0
    # read in one shot, the maximal lottery picks a but scores b and c alike (both lose to
    # a by 0.2): its scores are not a ranking
    assert table.loc["maximal_lottery", "condorcet_majority"] == 1.0
    assert table.loc["maximal_lottery", "pmc_score_consistent"] == 0.0
    assert table.loc["pooled", "condorcet_majority"] == 0.0
    # the pooled relation of deterministic voters is the majority relation
    assert table["condorcet_pooled"].tolist() == table["condorcet_majority"].tolist()
    # b is not Pareto-dominated (the b>c>a voters rank it first): no rule violates Pareto
    assert table["pareto_violations"].tolist() == [0] * 6


def test_pareto_columns_count_mass_on_unanimously_beaten_candidates():
    # two types; both strictly prefer a to c; on a vs b the second type is indifferent
    t1 = np.array([[0.5, 0.8, 0.9], [0.2, 0.5, 0.6], [0.1, 0.4, 0.5]])
    t2 = np.array([[0.5, 0.5, 0.7], [0.5, 0.5, 0.3], [0.3, 0.7, 0.5]])
    prof = mp.Profile(np.stack([t1, t2])[None], weights=[0.5, 0.5])
    lots = {
        "a": [[1.0, 0.0, 0.0]],
        "b": [[0.0, 1.0, 0.0]],  # weakly dominated by a (type 2 indifferent): strong Pareto only
        "c": [[0.0, 0.0, 1.0]],  # beaten by a for every type
        "mix": [[0.5, 0.25, 0.25]],
    }
    table = audit(prof, rules=[], lotteries={k: np.array(v) for k, v in lots.items()})
    assert table["kind"].tolist() == ["lottery"] * 4
    assert table["pareto_violations"].tolist() == [0, 0, 1, 1]
    assert table["strong_pareto_violations"].tolist() == [0, 1, 1, 1]
    assert table["dominated_mass"].tolist() == [0.0, 0.0, 1.0, 0.25]
    assert table["monotonicity_checked"].isna().all()


def test_condorcet_under_pooled_and_type_majority_are_reported_separately():
    # 60% mildly prefer a to b (0.55); 40% surely prefer b: the type majority elects a,
    # the pooled matrix (0.6 * 0.55 = 0.33 < 0.67) elects b
    t1 = np.array([[0.5, 0.55], [0.45, 0.5]])
    t2 = np.array([[0.5, 0.0], [1.0, 0.5]])
    prof = mp.Profile(np.stack([t1, t2])[None], weights=[0.6, 0.4])
    table = audit(prof, rules=["majority", "pooled", "maximal_lottery"])
    assert table["condorcet_majority_prompts"].tolist() == [1, 1, 1]
    assert table["condorcet_pooled_prompts"].tolist() == [1, 1, 1]
    assert table.loc["majority", ["condorcet_majority", "condorcet_pooled"]].tolist() == [1.0, 0.0]
    assert table.loc["pooled", ["condorcet_majority", "condorcet_pooled"]].tolist() == [0.0, 1.0]
    assert table.loc["maximal_lottery", ["condorcet_majority", "condorcet_pooled"]].tolist() == [0.0, 1.0]


def test_three_type_cycle_maximal_lottery_is_unexploitable_and_pooled_is_not():
    prof = _profile_of([[0, 1, 2], [1, 2, 0], [2, 0, 1]], np.ones(3) / 3)
    # break the symmetry so that the pooled rule has a unique pick
    prof = mp.Profile(prof.matrices, weights=[0.4, 0.35, 0.25])
    options = {"maximal_lottery": {"method": "selfplay", "tol": 1e-9}}
    table = audit(prof, rules=["maximal_lottery", "pooled"], options=options)
    assert table.loc["maximal_lottery", "max_exploitability"] <= 1e-6
    assert table.loc["pooled", "max_exploitability"] > 0.1
    assert table["pmc_prompts"].tolist() == [0, 0]
    assert table["pmc_consistent"].isna().all() and table["pmc_score_consistent"].isna().all()
    lp = audit(prof, rules=["maximal_lottery"])
    assert lp.loc["maximal_lottery", "max_exploitability"] <= 1e-6


def test_distortion_and_worst_type_by_hand():
    # type 0 (weight 0.6): a beats b surely; type 1 (0.4): b beats a. Win rates vs a uniform
    # candidate: u0 = (3/4, 1/4), u1 = (1/4, 3/4); welfare a: 0.6*.75+.4*.25 = 0.55, b: 0.45
    prof = _profile_of([[0, 1], [1, 0]], [0.6, 0.4])
    table = audit(prof, rules=[], lotteries={"a": np.array([[1.0, 0.0]]), "b": np.array([[0.0, 1.0]])})
    assert table.loc["a", "distortion"] == pytest.approx(1.0)
    assert table.loc["b", "distortion"] == pytest.approx(0.55 / 0.45)
    # worst per-type rescaling: all scale on the type the lottery serves worst, 0.75 / 0.25
    assert table.loc["a", "distortion_worst_normalisation"] == pytest.approx(3.0)
    assert table.loc["a", "worst_type"] == 1 and table.loc["a", "worst_type_win_rate"] == pytest.approx(0.25)
    assert table.loc["b", "worst_type"] == 0
    assert table.loc["a", "mean_win_rate"] == pytest.approx(0.55)


def test_boost_raises_the_winner_for_every_type_and_changes_nothing_else():
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(6, 3, 5))
    prof = mp.Profile.from_rewards(rewards, rng.dirichlet(np.ones(3), size=6))
    winner = rng.integers(0, 5, size=6)
    boosted = _boost(prof, winner)
    for p in range(6):
        w = winner[p]
        before, after = prof.matrices[p], boosted.matrices[p]
        others = [j for j in range(5) if j != w]
        assert np.all(after[:, w, others] > before[:, w, others])
        np.testing.assert_allclose(after[:, w, others] + after[:, others, w], 1.0)
        keep = np.ones((5, 5), bool)
        keep[w, :] = keep[:, w] = False
        np.testing.assert_array_equal(after[:, keep], before[:, keep])
        assert np.all(boosted.rewards[p, :, w] > prof.rewards[p, :, w])


def test_boost_raises_every_posterior_sample_too():
    rng = np.random.default_rng(1)
    rewards = rng.normal(size=(4, 2, 3))
    draws = rewards + 0.3 * rng.normal(size=(5, 4, 2, 3))
    prof = mp.Profile.from_rewards(rewards, [0.5, 0.5], reward_samples=draws)
    winner = np.array([0, 1, 2, 1])
    boosted = _boost(prof, winner)
    for p in range(4):
        w, others = winner[p], [j for j in range(3) if j != winner[p]]
        assert np.all(boosted.samples[:, p, :, w, others] > prof.samples[:, p, :, w, others])
        np.testing.assert_allclose(boosted.samples[:, p, :, w, w], 0.5)
    table = audit(prof, rules=["quantile", "borda"], n_spot=4)
    assert table["monotonicity_violations"].tolist() == [0, 0]


def test_monotone_rules_pass_the_spot_checks(bt_mixture):
    rules = ["borda", "copeland", "pooled", "maximal_lottery", "utilitarian", "maxmin"]
    table = audit(bt_mixture, rules=rules, n_spot=40)
    assert table["monotonicity_checked"].tolist() == [40] * len(rules)
    assert table["monotonicity_violations"].tolist() == [0] * len(rules)


def test_default_rules_come_from_the_registry_with_reasons_for_the_skipped():
    prof = _ge_profile()
    table = audit(prof, n_spot=1)
    assert "quantile" in table.attrs["skipped"] and "samples" in table.attrs["skipped"]["quantile"]
    assert "utilitarian" not in table.index  # no rewards
    assert {"borda", "maximal_lottery", "kemeny"} <= set(table.index)


def test_a_trained_tabular_policy_is_audited_as_a_lottery(bt_mixture):
    prof = mp.Profile(bt_mixture.matrices[:20], bt_mixture.weights[:20], candidates=[list("abcdefgh")] * 20)
    lot = mp.aggregate(prof, "maximal_lottery")
    pairs = mp.to_dpo_pairs(lot)
    policy = mp.dpo.train_tabular(pairs, lot, beta=0.5, steps=50)
    # the same policy with its candidates listed in another order must audit the same
    perm = np.arange(8)[::-1]
    shuffled = type("Policy", (), {})()
    shuffled.probs, shuffled.candidates = policy.probs[:, perm], policy.candidates[:, perm]
    shuffled.prompts, shuffled.mask = policy.prompts, policy.mask[:, perm]
    table = audit(prof, rules=["maximal_lottery"], lotteries={"dpo": policy, "dpo_shuffled": shuffled}, n_spot=5)
    assert table.loc["dpo", "kind"] == "lottery"
    game = prof.pooled() - np.swapaxes(prof.pooled(), 1, 2)
    assert table.loc["dpo", "exploitability"] == pytest.approx(exploitability(game, policy.probs, prof.mask).mean())
    cols = ["pareto_violations", "exploitability", "distortion", "worst_type_win_rate"]
    pd.testing.assert_series_equal(table.loc["dpo", cols], table.loc["dpo_shuffled", cols], check_names=False)


def test_bad_lotteries_and_options_raise_data_errors():
    prof = _ge_profile()
    with pytest.raises(mp.DataError, match="shape"):
        audit(prof, rules=[], lotteries={"x": np.ones((2, 3)) / 3})
    with pytest.raises(mp.DataError, match="summing to 1"):
        audit(prof, rules=[], lotteries={"x": np.array([[0.5, 0.2, 0.2]])})
    other = mp.aggregate(mp.Profile(prof.matrices, prof.weights, prompts=["other"]), "borda")
    with pytest.raises(mp.DataError, match="no probability for prompt 0"):
        audit(prof, rules=[], lotteries={"x": other})
    with pytest.raises(mp.DataError, match="not among the rules"):
        audit(prof, rules=["borda"], options={"copeland": {}})
    with pytest.raises(mp.DataError, match="profile"):
        audit(prof.matrices)


# ---------------------------------------------------------------------- pref_voting oracles
pv_profiles = pytest.importorskip("pref_voting.profiles")
from pref_voting.other_methods import pareto  # noqa: E402
from pref_voting.scoring_methods import borda  # noqa: E402


@pytest.fixture(scope="module")
def elections():
    elections = random_voter_profiles(320, seed=2024)
    return elections, stack_elections(elections), [pv_profiles.Profile(e) for e in elections]


def _majority_order(rankings, m):
    """The pairwise-majority order best first, or None when it is not a strict linear order."""
    wins = np.zeros(m, int)
    for i in range(m):
        for j in range(m):
            if i != j:
                pref = sum(r.index(i) < r.index(j) for r in rankings)
                if 2 * pref == len(rankings):
                    return None
                wins[i] += 2 * pref > len(rankings)
    if sorted(wins.tolist()) != list(range(m)):
        return None  # a cycle
    return np.argsort(-wins).tolist()


def test_audit_columns_match_pref_voting_on_random_elections(elections):
    raw, prof, pv = elections
    uniform = prof.mask / prof.mask.sum(axis=1, keepdims=True)
    table = audit(prof, rules=["maximal_lottery", "borda", "copeland"], lotteries={"uniform": uniform}, n_spot=50)
    # Pareto: the uniform lottery violates exactly where pref_voting's Pareto set is not everyone
    not_all = sum(len(pareto(p)) < p.num_cands for p in pv)
    assert not_all > 0
    assert table.loc["uniform", "pareto_violations"] == not_all
    assert table.loc["uniform", "strong_pareto_violations"] == not_all  # strict rankings: no ties
    # the maximal lottery is never Pareto-dominated
    assert table.loc["maximal_lottery", "pareto_violations"] == 0
    assert table.loc["maximal_lottery", "strong_pareto_violations"] == 0
    assert table.loc["maximal_lottery", "max_exploitability"] <= 1e-6
    # Condorcet: pref_voting's winners; every Condorcet-consistent rule picks them alone
    n_cw = sum(p.condorcet_winner() is not None for p in pv)
    assert table["condorcet_majority_prompts"].tolist() == [n_cw] * 4
    assert table["condorcet_pooled_prompts"].tolist() == [n_cw] * 4
    assert table.loc["maximal_lottery", "condorcet_majority"] == 1.0
    assert table.loc["copeland", "condorcet_majority"] == 1.0
    # PMC: elections whose majority is a linear order; Copeland ranks exactly by it; Borda
    # agrees exactly where pref_voting's Borda scores are strictly in the majority order
    orders = [_majority_order(e, len(e[0])) for e in raw]
    linear = [i for i, o in enumerate(orders) if o is not None]
    assert table["pmc_prompts"].tolist() == [len(linear)] * 4
    assert table.loc["copeland", "pmc_consistent"] == 1.0
    assert table.loc["copeland", "pmc_score_consistent"] == 1.0
    assert table.loc["maximal_lottery", "pmc_consistent"] == 1.0
    one_shot, iterated = [], []
    for i in linear:
        scores = pv[i].borda_scores()
        s = [scores[c] for c in orders[i]]
        one_shot.append(all(a > b for a, b in zip(s, s[1:])))
        # Borda re-applied to the candidates not yet ranked: a unique winner at every step
        ok = True
        for k in range(len(orders[i]) - 1):
            winners = borda(pv[i], curr_cands=orders[i][k:])
            ok &= winners == [orders[i][k]]
        iterated.append(ok)
    assert 0 < np.mean(one_shot) < 1 and 0 < np.mean(iterated) < 1
    assert table.loc["borda", "pmc_score_consistent"] == pytest.approx(np.mean(one_shot))
    assert table.loc["borda", "pmc_consistent"] == pytest.approx(np.mean(iterated))

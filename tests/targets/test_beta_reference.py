"""to_dpo_pairs(beta=, reference=): soft labels whose DPO optimum is the rule's lottery."""

import warnings

import numpy as np
import pandas as pd
import pytest

import mixpref as mp
from tests.reference.profiles import majority_minority


def cycle_population(n_prompts=6, seed=0):
    """3-type Condorcet cycle (weights 0.40/0.35/0.25), as in the aggregation_rules study."""
    rng = np.random.default_rng(seed)
    scores = np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 2.0]])
    rewards = 3.0 * (scores[None] + 0.05 * rng.standard_normal((n_prompts, 3, 3)))
    return mp.Profile.from_rewards(rewards, weights=[0.40, 0.35, 0.25])


def tv(a, b):
    return float(np.mean(0.5 * np.abs(a - b).sum(1)))


@pytest.mark.parametrize("population", ["cycle", "majority_minority"])
@pytest.mark.parametrize("rule", ["maximal_lottery", "maxmin", "pooled"])
def test_soft_dpo_at_default_beta_reaches_the_lottery(population, rule):
    profile = cycle_population() if population == "cycle" else majority_minority(n_prompts=6)
    lottery = mp.aggregate(profile, rule)
    pairs = mp.to_dpo_pairs(lottery, strategy="all_pairs", beta=0.1)
    policy = mp.dpo.train_tabular(pairs, lottery, loss="soft", beta=0.1, steps=300)
    assert tv(policy.probs, lottery.probs) <= 0.02
    # the head-to-head labels at the same beta do not (the bug this fixes)
    if rule != "pooled" or population == "cycle":
        old = mp.dpo.train_tabular(mp.to_dpo_pairs(lottery, strategy="all_pairs"), lottery, loss="soft", beta=0.1, steps=300)
        assert tv(old.probs, lottery.probs) > 0.1


def test_labels_follow_the_closed_form_with_a_reference():
    profile = majority_minority(n_prompts=2, m=4)
    lottery = mp.aggregate(profile, "maxmin")
    ref = np.random.default_rng(1).dirichlet(np.ones(4), size=2)
    pairs = mp.to_dpo_pairs(lottery, strategy="all_pairs", beta=0.5, reference=ref)
    cands = [list(c) for c in lottery.candidates]
    for row in pairs.itertuples():
        p = list(lottery.prompts).index(row.prompt_id)
        c, r = cands[p].index(row.chosen_id), cands[p].index(row.rejected_id)
        qc, qr = lottery.probs[p, c], lottery.probs[p, r]
        if qc > 0 and qr > 0:
            want = 1 / (1 + (qr * ref[p, c] / (qc * ref[p, r])) ** 0.5)  # σ(β log(qc ref_r / (qr ref_c)))
        else:
            want = 1.0 if qr == 0 and qc > 0 else 0.5
        assert row.p_chosen == pytest.approx(want, abs=1e-12)
    # and the tabular trainer anchored at the same reference ends at the lottery
    policy = mp.dpo.train_tabular(pairs, lottery, loss="soft", beta=0.5, reference=ref, steps=300)
    assert tv(policy.probs, lottery.probs) <= 0.02


def test_reference_as_logprob_table_equals_array():
    profile = majority_minority(n_prompts=2, m=3)
    lottery = mp.aggregate(profile, "maximal_lottery")
    ref = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    frame = lottery.to_frame()[["prompt_id", "response_id"]]
    frame["logprob"] = np.log(ref[np.nonzero(lottery.mask)]) - 7.0  # unnormalised: only differences matter
    a = mp.to_dpo_pairs(lottery, strategy="all_pairs", beta=0.1, reference=ref)
    b = mp.to_dpo_pairs(lottery, strategy="all_pairs", beta=0.1, reference=frame)
    np.testing.assert_allclose(a.p_chosen, b.p_chosen, atol=1e-12)


def test_beta_one_uniform_equals_lottery_labels():
    lottery = mp.aggregate(cycle_population(2), "maximal_lottery")
    a = mp.to_dpo_pairs(lottery, strategy="all_pairs", labels="lottery")
    b = mp.to_dpo_pairs(lottery, strategy="all_pairs", beta=1.0)
    np.testing.assert_allclose(a.p_chosen, b.p_chosen, atol=1e-12)


def test_bad_beta_reference_and_pairwise_combination():
    lottery = mp.aggregate(cycle_population(2), "maximal_lottery")
    with pytest.raises(mp.DataError, match="beta"):
        mp.to_dpo_pairs(lottery, beta=-1)
    with pytest.raises(mp.DataError, match="labels='pairwise'"):
        mp.to_dpo_pairs(lottery, beta=0.1, labels="pairwise")
    with pytest.raises(mp.DataError, match="reference: got shape"):
        mp.to_dpo_pairs(lottery, beta=0.1, reference=np.ones((1, 3)))
    with pytest.raises(mp.DataError, match="probability > 0"):
        mp.to_dpo_pairs(lottery, beta=0.1, reference=np.zeros((2, 3)))
    frame = pd.DataFrame({"prompt_id": [0], "response_id": [99], "prob": [1.0]})
    with pytest.raises(mp.DataError, match="not among the candidates"):
        mp.to_dpo_pairs(lottery, beta=0.1, reference=frame)


def test_columns_that_cannot_be_computed_are_left_out_with_a_warning():
    lottery = mp.aggregate(cycle_population(2), "maximal_lottery")
    bare = mp.Lottery(lottery.probs, lottery.scores, "hand-made", prompts=lottery.prompts,
                      candidates=lottery.candidates, mask=lottery.mask)
    with pytest.warns(UserWarning, match="win_prob_chosen"):
        pairs = mp.to_dpo_pairs(bare)
    assert not {"win_prob_chosen", "win_prob_rejected", "p_chosen"} & set(pairs.columns)
    with pytest.warns(UserWarning):
        pairs = mp.to_dpo_pairs(bare, beta=0.1)
    assert "p_chosen" in pairs.columns and pairs.p_chosen.notna().all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = mp.to_dpo_pairs(lottery)
    assert full[["p_chosen", "win_prob_chosen", "win_prob_rejected"]].notna().all().all()

"""Group-robust tabular DPO on the 60/40 anti-correlated population of the aggregation study."""

import numpy as np
import pandas as pd
import pytest
import torch

import mixpref as mp
from mixpref.dpo.group_robust import GroupWeights, type_pairs, type_posteriors, type_win_rates
from tests.reference.profiles import majority_minority


def test_group_robust_serves_the_minority_like_maxmin():
    profile = majority_minority()
    lottery = mp.aggregate(profile, "maxmin")
    maxmin = type_win_rates(profile, lottery.probs)
    pairs = type_pairs(profile)
    pooled = mp.dpo.train_tabular(pairs, lottery, loss="soft", beta=0.1, steps=200)
    robust = mp.dpo.train_tabular(pairs, lottery, loss="group_robust", beta=0.1, steps=100, group_rounds=20)
    pooled_rates, robust_rates = type_win_rates(profile, pooled.probs), type_win_rates(profile, robust.probs)
    assert robust_rates[1] > pooled_rates[1] + 0.05            # the minority gains over pooled training
    assert abs(robust_rates.min() - maxmin.min()) <= 0.02       # worst type as well off as under max-min
    assert robust_rates[1] >= maxmin[1] - 0.02


def test_per_prompt_groups_give_the_minority_what_maxmin_gives():
    profile = majority_minority()
    lottery = mp.aggregate(profile, "maxmin")
    maxmin = type_win_rates(profile, lottery.probs)
    pairs = type_pairs(profile, per_prompt=True)
    assert pairs.group.nunique() == 2 * profile.n_prompts
    pooled = mp.dpo.train_tabular(pairs.drop(columns="group"), lottery, loss="soft", beta=0.1, steps=200)
    robust = mp.dpo.train_tabular(pairs, lottery, loss="group_robust", beta=0.1, steps=100, group_rounds=60,
                                  group_step=50.0)
    rates = type_win_rates(profile, robust.probs)
    assert abs(rates[1] - maxmin[1]) <= 0.02
    assert rates[1] > type_win_rates(profile, pooled.probs)[1] + 0.02


def test_type_win_rates_against_a_direct_count():
    profile = majority_minority(n_prompts=2, m=3)
    probs = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    got = type_win_rates(profile, probs)
    for k in range(2):
        want = np.mean([sum(probs[p, i] * profile.matrices[p, k, i, j] / 3 for i in range(3) for j in range(3))
                        for p in range(2)])
        assert got[k] == pytest.approx(want)


def test_exponentiated_gradient_moves_weight_to_the_worse_type():
    g = GroupWeights(2, step_size=1.0)
    value, losses = g.objective(torch.tensor([1.0, 3.0, 3.0]), torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]),
                                torch.ones(3))
    assert losses.tolist() == [1.0, 3.0] and float(value) == pytest.approx(2.0)
    g.update(losses)
    assert g.alpha.tolist() == pytest.approx([1 / (1 + np.e ** 2), np.e ** 2 / (1 + np.e ** 2)])


def test_group_robust_needs_types():
    pairs = pd.DataFrame({"prompt_id": [0], "chosen_id": [0], "rejected_id": [1], "p_chosen": [0.8]})
    cands = pd.DataFrame({"prompt_id": [0, 0], "response_id": [0, 1]})
    with pytest.raises(mp.DataError, match="'type'"):
        mp.dpo.train_tabular(pairs, cands, loss="group_robust")
    with pytest.raises(mp.DataError, match="type_probs', row 0"):
        type_posteriors(pairs.assign(type_probs=[[0.5, 0.6]]))

"""Group-robust tabular DPO whose adversary is driven by each type's win-rate shortfall."""

import numpy as np
import pandas as pd
import pytest
import torch

import mixpref as mp
from mixpref.dpo.group_robust import GroupWeights, PairWinRates, prompt_blocks, type_pairs, type_win_rates
from tests.reference.profiles import majority_minority


def test_win_rate_adversary_gives_the_minority_what_maxmin_gives():
    profile = majority_minority(n_prompts=20)
    lottery = mp.aggregate(profile, "maxmin")  # the oracle: the LP's max-min lottery
    maxmin = type_win_rates(profile, lottery.probs)
    pooled = mp.dpo.train_tabular(type_pairs(profile), lottery, loss="soft", beta=0.1, steps=200)
    robust = mp.dpo.train_tabular(type_pairs(profile, per_prompt=True), lottery, loss="group_robust", beta=0.1,
                                  steps=100, group_rounds=100, group_objective="win_rate", group_simplex="prompt")
    rates, pooled_rates = type_win_rates(profile, robust.probs), type_win_rates(profile, pooled.probs)
    assert abs(rates[1] - maxmin[1]) <= 0.02, (rates, maxmin)
    assert rates[1] > pooled_rates[1] + 0.05
    # on every prompt the types end close to level, as under max-min, and the worst type's
    # per-prompt win rate is near max-min's (which maximises it, so it cannot be above)
    got = type_win_rates(profile, robust.probs, per_prompt=True).min(1)
    best = type_win_rates(profile, lottery.probs, per_prompt=True).min(1)
    assert (got <= best + 1e-6).all()
    assert best.mean() - got.mean() <= 0.015


def test_win_rate_adversary_with_one_group_per_type_levels_the_types():
    profile = majority_minority()
    lottery = mp.aggregate(profile, "maxmin")
    robust = mp.dpo.train_tabular(type_pairs(profile), lottery, loss="group_robust", beta=0.1, steps=100,
                                  group_rounds=60, group_objective="win_rate")
    dpo = mp.dpo.train_tabular(type_pairs(profile), lottery, loss="group_robust", beta=0.1, steps=100,
                               group_rounds=60)
    rates = type_win_rates(profile, robust.probs)
    assert abs(rates[0] - rates[1]) <= 0.005          # averaged over prompts, the types are level
    assert rates.min() >= type_win_rates(profile, dpo.probs).min() - 1e-3


def test_pair_win_rates_match_the_profile():
    profile = majority_minority(n_prompts=4, m=4, seed=3)
    pairs = type_pairs(profile)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=4)
    reference = rng.dirichlet(np.ones(4), size=4)
    pos = np.stack([pairs.prompt_id.astype(int), pairs.chosen_id.astype(int), pairs.rejected_id.astype(int)], 1)
    wr = PairWinRates(pos, pairs.p_chosen.to_numpy(), np.eye(2)[pairs.type.astype(int)], pairs.weight.to_numpy(),
                      np.full(4, 4))
    got = wr(torch.tensor(probs), torch.tensor(reference)).numpy()
    # oracle: the double sum over the profile's full preference matrices (ties half)
    want = [np.mean([sum(probs[p, i] * profile.matrices[p, k, i, j] * reference[p, j]
                         for i in range(4) for j in range(4)) for p in range(4)]) for k in range(2)]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_the_adversary_moves_weight_to_the_type_with_the_lower_win_rate():
    # one prompt, candidates a, b; type 0: a beats b with 0.9, type 1: b beats a with 0.7
    pos = np.array([[0, 0, 1], [0, 1, 0]])
    wr = PairWinRates(pos, np.array([0.9, 0.7]), np.eye(2), np.ones(2), np.array([2]))
    rates = wr(torch.tensor([[0.8, 0.2]]), torch.tensor([[0.5, 0.5]]))
    # by hand: 0.9*0.8*0.5 + 0.1*0.2*0.5 + 0.5*(0.8*0.5 + 0.2*0.5) = 0.62; 0.7*0.2*0.5 + 0.3*0.8*0.5 + 0.25 = 0.44
    assert rates.tolist() == pytest.approx([0.62, 0.44])
    g = GroupWeights(2, step_size=1.0)
    g.update(1.0 - rates)
    assert g.alpha.tolist() == pytest.approx([1 / (1 + np.exp(0.18)), 1 / (1 + np.exp(-0.18))])


def test_trained_weights_favour_the_type_pooled_training_serves_worse():
    profile = majority_minority(n_prompts=5, seed=1)
    lottery = mp.aggregate(profile, "maxmin")
    pairs = type_pairs(profile)
    pooled = type_win_rates(profile, mp.dpo.train_tabular(pairs, lottery, loss="soft", beta=0.1).probs)
    robust = mp.dpo.train_tabular(pairs, lottery, loss="group_robust", beta=0.1, group_rounds=40,
                                  group_objective="win_rate")
    worse = int(np.argmin(pooled))
    assert robust.type_weights[worse] > 0.5
    assert type_win_rates(profile, robust.probs)[worse] > pooled[worse]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_the_types_end_level_with_either_optimizer(optimizer):
    profile = majority_minority(n_prompts=5, seed=1)
    lottery = mp.aggregate(profile, "maxmin")
    robust = mp.dpo.train_tabular(type_pairs(profile), lottery, loss="group_robust", beta=0.1, steps=500,
                                  group_rounds=40, group_objective="win_rate", optimizer=optimizer)
    rates = type_win_rates(profile, robust.probs)
    assert abs(rates[0] - rates[1]) <= 0.01, rates


def test_one_simplex_per_prompt():
    g = GroupWeights(4, step_size=1.0, blocks=[0, 0, 1, 1])
    g.update(torch.tensor([0.0, 1.0, 5.0, 5.0]))
    assert g.alpha.tolist() == pytest.approx([1 / (1 + np.e), np.e / (1 + np.e), 0.5, 0.5])
    assert prompt_blocks(np.eye(3)[[0, 1, 2, 2]], np.array([1, 1, 0, 0])).tolist() == [1, 1, 0]


def test_bad_group_options_are_refused():
    profile = majority_minority(n_prompts=2, m=3)
    lottery = mp.aggregate(profile, "maxmin")
    pairs = type_pairs(profile)
    with pytest.raises(mp.DataError, match="group_objective"):
        mp.dpo.train_tabular(pairs, lottery, loss="group_robust", group_objective="winrate")
    with pytest.raises(mp.DataError, match="group_simplex"):
        mp.dpo.train_tabular(pairs, lottery, loss="group_robust", group_simplex="type")
    with pytest.raises(mp.DataError, match="group 0 has pairs on 2 prompts"):
        mp.dpo.train_tabular(pairs, lottery, loss="group_robust", group_simplex="prompt")
    twice = pd.concat([pairs, pairs], ignore_index=True)
    with pytest.raises(mp.DataError, match="labelled at most once"):
        mp.dpo.train_tabular(twice, lottery, loss="group_robust", group_objective="win_rate")


def test_soft_dpo_trainer_refuses_the_win_rate_adversary(tiny_lm, tmp_path):
    trl = pytest.importorskip("trl")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mixpref.dpo.soft_trainer import SoftDPOTrainer

    df = pd.DataFrame({"prompt": ["q"] * 2, "chosen": [" a", " b"], "rejected": [" b", " a"], "p_chosen": [0.8, 0.7],
                       "type": [0, 1]})
    cfg = trl.DPOConfig(str(tmp_path / "out"), report_to="none", use_cpu=True, save_strategy="no")
    with pytest.raises(mp.DataError, match="supports only 'dpo'"):
        SoftDPOTrainer(AutoModelForCausalLM.from_pretrained(tiny_lm), args=cfg,
                       train_dataset=mp.to_trl_dataset(df, keep_columns=True),
                       processing_class=AutoTokenizer.from_pretrained(tiny_lm), loss_type="group_robust",
                       group_objective="win_rate")

"""train_tabular: what DPO converges to under each rule's targets (exact softmax policy)."""

import numpy as np
import pandas as pd
import pytest

import mixpref as mp


def cycle_profile(n_prompts=3, seed=0):
    """Each prompt: a Condorcet cycle among three candidates (three types with cyclic rankings,
    random weights and reward gaps) plus two or three losers every type ranks last."""
    rng = np.random.default_rng(seed)
    rewards, mask = np.zeros((n_prompts, 3, 6)), np.zeros((n_prompts, 6), dtype=bool)
    for p in range(n_prompts):
        m = 5 + p % 2
        top = rng.permutation(m)[:3]  # the cycle sits anywhere among the candidates
        for k, order in enumerate([(0, 1, 2), (1, 2, 0), (2, 0, 1)]):
            r = rng.normal(-6, 1, size=m)
            for rank, item in enumerate(order):
                r[top[item]] = 6.0 - 3.0 * rank
            rewards[p, k, :m] = r
        mask[p, :m] = True
    weights = rng.dirichlet(np.full(3, 20.0), size=n_prompts)  # near-equal: a majority cycle remains
    return mp.Profile.from_rewards(rewards, weights, mask=mask)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_maximal_lottery_targets_put_mass_on_the_support(optimizer):
    profile = cycle_profile()
    lot = mp.aggregate(profile, "maximal_lottery")
    support = (lot.probs > 1e-6) & lot.mask
    # a Condorcet cycle: no candidate is a pure maximal lottery anywhere
    assert (support.sum(1) == 3).all()
    pairs = mp.to_dpo_pairs(lot, strategy="all_pairs")
    policy = mp.dpo.train_tabular(pairs, lot, loss="sigmoid", beta=0.1, steps=300, lr=0.1,
                                  optimizer=optimizer)
    assert policy.probs.shape == lot.probs.shape
    np.testing.assert_array_equal(policy.candidates, lot.candidates)
    mass = (policy.probs * support).sum(1)
    assert (mass >= 0.9).all(), mass
    np.testing.assert_allclose(policy.probs.sum(1), 1.0)
    assert (policy.probs[~lot.mask] == 0).all()
    # the uniform reference alone would put only 3/M there
    assert (policy.reference * support).sum(1).max() <= 0.6 + 1e-9


def test_pooled_targets_rank_candidates_as_borda():
    rewards = np.random.default_rng(1).normal(0, 1.5, size=(6, 3, 5))
    profile = mp.Profile.from_rewards(rewards, np.array([0.5, 0.3, 0.2]))
    pooled = profile.pooled()
    # Borda on the pooled matrix, computed here as the oracle: sum_j P(i beats j)
    borda = pooled.sum(2) - np.diagonal(pooled, axis1=1, axis2=2)
    gaps = np.diff(np.sort(borda, 1), axis=1)
    assert gaps.min() > 1e-3  # no near-ties, so the ranking is well defined
    lot = mp.aggregate(profile, "pooled")
    pairs = mp.to_dpo_pairs(lot, strategy="all_pairs")
    # soft labels: DPO fits BT to the pooled matrix, whose score equations match Borda counts
    soft = mp.dpo.train_tabular(pairs, lot, loss="soft", beta=1.0)
    np.testing.assert_array_equal(np.argsort(-soft.probs, 1), np.argsort(-borda, 1))
    # hard labels ordered by the pooled rule also rank as Borda
    hard = mp.dpo.train_tabular(pairs, lot, loss="sigmoid", beta=0.1, steps=300)
    assert np.isfinite(hard.probs).all()
    np.testing.assert_array_equal(np.argsort(-hard.probs, 1), np.argsort(-borda, 1))


def test_soft_dpo_optimum_matches_the_closed_form():
    # one prompt, two candidates: the soft-DPO optimum has beta * h = logit(p)
    cands = pd.DataFrame({"prompt_id": ["q", "q"], "response_id": ["y", "n"]})
    pairs = pd.DataFrame({"prompt_id": ["q"], "chosen_id": ["y"], "rejected_id": ["n"], "p_chosen": [0.8]})
    ref = np.array([[0.3, 0.7]])
    beta = 0.5
    policy = mp.dpo.train_tabular(pairs, cands, loss="soft", beta=beta, reference=ref)
    h = np.log(policy.probs[0, 0] / ref[0, 0]) - np.log(policy.probs[0, 1] / ref[0, 1])
    assert beta * h == pytest.approx(np.log(0.8 / 0.2), abs=1e-4)
    # IPO's optimum: h = (p - 1/2) / beta
    ipo = mp.dpo.train_tabular(pairs, cands, loss="ipo_sum", beta=beta, reference=ref,
                               soft_labels=True)
    h = np.log(ipo.probs[0, 0] / ref[0, 0]) - np.log(ipo.probs[0, 1] / ref[0, 1])
    assert h == pytest.approx(0.3 / beta, abs=1e-4)
    frame = ipo.to_frame()
    assert frame.columns.tolist() == ["prompt_id", "response_id", "prob", "ref_prob"]
    assert frame.response_id.tolist() == ["y", "n"]


def test_reference_as_frame_and_weights():
    cands = pd.DataFrame({"prompt_id": [0, 0, 1, 1], "response_id": ["a", "b", "c", "d"]})
    ref = cands.assign(prob=[0.5, 0.5, 0.9, 0.1])
    pairs = pd.DataFrame({"prompt_id": [0, 1], "chosen_id": ["a", "d"], "rejected_id": ["b", "c"],
                          "weight": [1.0, 0.0]})
    policy = mp.dpo.train_tabular(pairs, cands, beta=1.0, reference=ref, steps=100, optimizer="adam")
    assert policy.probs[0, 0] > 0.6
    # zero weight: prompt 1 stays at its reference
    np.testing.assert_allclose(policy.probs[1], [0.9, 0.1], atol=1e-12)


def test_bad_inputs_raise_data_error():
    cands = pd.DataFrame({"prompt_id": [0, 0], "response_id": ["a", "b"]})
    ok = pd.DataFrame({"prompt_id": [0], "chosen_id": ["a"], "rejected_id": ["b"]})
    with pytest.raises(mp.DataError, match="'rejected_id', row 0: response 'z'"):
        mp.dpo.train_tabular(ok.assign(rejected_id="z"), cands)
    with pytest.raises(mp.DataError, match="same response"):
        mp.dpo.train_tabular(ok.assign(rejected_id="a"), cands)
    with pytest.raises(mp.DataError, match="p_chosen"):
        mp.dpo.train_tabular(ok, cands, loss="soft")
    with pytest.raises(mp.DataError, match="weight"):
        mp.dpo.train_tabular(ok.assign(weight=-1.0), cands)
    with pytest.raises(mp.DataError, match="'weight', row 0: got 'x'"):
        mp.dpo.train_tabular(ok.assign(weight="x"), cands)
    with pytest.raises(mp.DataError, match="'p_chosen', row 0: got 'high'"):
        mp.dpo.train_tabular(ok.assign(p_chosen=["high"]), cands, loss="soft")
    with pytest.raises(mp.DataError, match="reference"):
        mp.dpo.train_tabular(ok, cands, reference=np.array([[1.0, 0.0]]))
    with pytest.raises(mp.DataError, match="optimizer"):
        mp.dpo.train_tabular(ok, cands, optimizer="sgd")
    with pytest.raises(mp.DataError, match="candidates"):
        mp.dpo.train_tabular(ok, [1, 2])


def test_soft_dpo_on_lottery_labels_reproduces_the_lottery():
    # labels="lottery": p = q_c / (q_c + q_r); soft DPO at beta = 1 from a uniform reference
    # has pi = q as its optimum, including a maximal lottery's mixed support
    profile = cycle_profile(seed=3)
    lot = mp.aggregate(profile, "maximal_lottery")
    pairs = mp.to_dpo_pairs(lot, strategy="all_pairs", labels="lottery")
    policy = mp.dpo.train_tabular(pairs, lot, loss="soft", beta=1.0, steps=500)
    tv = 0.5 * np.abs(policy.probs - lot.probs).sum(1)
    assert tv.max() < 0.02, tv
    # whereas hard DPO on the same pairs collapses onto the lottery's top candidate
    hard = mp.dpo.train_tabular(pairs, lot, loss="sigmoid", beta=1.0, steps=500)
    assert (0.5 * np.abs(hard.probs - lot.probs).sum(1)).max() > 0.2

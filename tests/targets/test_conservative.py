"""Conservative DPO targets from a LotteryPosterior: known supports, kept pairs, lower-bound labels."""

import numpy as np
import pytest

import mixpref as mp


def _matrix(a, b, c):
    return np.array([[0.5, a, b], [1 - a, 0.5, c], [1 - b, 1 - c, 0.5]])


@pytest.fixture(scope="module")
def posterior():
    # 10 draws of one prompt, one type: 0 beats 1 in every draw, 0 beats 2 in 9, 1 beats 2 in 7
    a = [0.8] * 10
    b = [0.9] * 5 + [0.6] * 4 + [0.4]
    c = [0.6] * 7 + [0.45] * 3
    draws = np.stack([_matrix(*abc) for abc in zip(a, b, c)])[:, None, None]  # (S, P, K, M, M)
    prof = mp.Profile(draws.mean(0), [1.0], samples=draws, candidates=np.array([["x", "y", "z"]], dtype=object),
                      prompts=["q"])
    return mp.aggregate(prof, "maximal_lottery", posterior=True, study=False, method="lp"), draws[:, 0, 0]


def _expected_support(draws, i, j):
    # counted by hand over the draws: the fraction in which i is preferred to j
    return float(np.mean([m[i, j] > m[j, i] for m in draws]))


def test_support_is_the_fraction_of_draws_and_unsupported_pairs_are_dropped(posterior):
    post, draws = posterior
    ids = {"x": 0, "y": 1, "z": 2}
    everything = mp.to_dpo_pairs(post, strategy="all_pairs")  # a posterior without confidence: all pairs
    assert len(everything) == 3
    for _, row in everything.iterrows():
        assert row["support"] == pytest.approx(_expected_support(draws, ids[row["chosen_id"]], ids[row["rejected_id"]]))
    kept = mp.to_dpo_pairs(post, strategy="all_pairs", confidence=0.8)
    assert sorted(zip(kept["chosen_id"], kept["rejected_id"])) == [("x", "y"), ("x", "z")]  # y over z: 0.7 < 0.8
    assert kept["weight"].tolist() == [0.5, 0.5]
    assert kept.attrs["n_candidate_pairs"] == 3 and kept.attrs["n_kept"] == 2
    strict = mp.to_dpo_pairs(post, strategy="all_pairs", confidence=0.95)
    assert list(zip(strict["chosen_id"], strict["rejected_id"])) == [("x", "y")]
    assert strict["weight"].tolist() == [1.0]


def test_lower_soft_labels_are_the_credible_lower_bound(posterior):
    post, draws = posterior
    pairs = mp.to_dpo_pairs(post, strategy="all_pairs", confidence=0.8, soft_labels="lower")
    row = pairs.set_index(["chosen_id", "rejected_id"]).loc[("x", "z")]
    # the 20% quantile of the 10 labels (0.9 x 5, 0.6 x 4, 0.4 x 1), numpy's linear interpolation
    assert row["p_chosen"] == pytest.approx(np.quantile([0.9] * 5 + [0.6] * 4 + [0.4], 0.2))
    assert row["p_chosen"] < mp.to_dpo_pairs(post, strategy="all_pairs").set_index(
        ["chosen_id", "rejected_id"]).loc[("x", "z"), "p_chosen"]


def test_lottery_labels_use_the_lotteries_support():
    # two candidates; the rule's lottery under each draw is known: borda picks the pooled favourite
    d = np.array([_matrix(0.6, 0.5, 0.5)[:2, :2]] * 8 + [_matrix(0.4, 0.5, 0.5)[:2, :2]] * 2)[:, None, None]
    post = mp.aggregate(mp.Profile(d.mean(0), [1.0], samples=d), "borda", posterior=True, study=False)
    pairs = mp.to_dpo_pairs(post, confidence=None, labels="lottery", beta=1.0)
    assert pairs["support"].tolist() == [pytest.approx(0.8)]
    assert len(mp.to_dpo_pairs(post, confidence=0.85, labels="lottery", beta=1.0)) == 0


def test_bad_options_raise(posterior):
    post, _ = posterior
    with pytest.raises(mp.DataError, match="confidence"):
        mp.to_dpo_pairs(post, confidence=1.5)
    with pytest.raises(mp.DataError, match="soft_labels"):
        mp.to_dpo_pairs(post, soft_labels="lower")
    with pytest.raises(mp.DataError, match="soft_labels"):
        mp.to_dpo_pairs(post, confidence=0.9, soft_labels="upper")
    with pytest.raises(mp.DataError, match="LotteryPosterior"):
        mp.to_dpo_pairs(post.mean, confidence=0.9)

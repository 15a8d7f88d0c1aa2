"""Profile construction, validation, padding and persistence."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import mixpref as mp
from mixpref.aggregation.relations import has_cycle, pareto_dominated, smith_set


def _random_bt(p=4, k=2, m=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(p, k, m))


def test_from_rewards_is_bradley_terry_and_keeps_rewards():
    r = _random_bt()
    prof = mp.Profile.from_rewards(r, weights=[0.25, 0.75])
    i, j = 0, 2
    np.testing.assert_allclose(prof.matrices[:, :, i, j], expit(r[:, :, i] - r[:, :, j]))
    np.testing.assert_allclose(prof.rewards, r)
    np.testing.assert_allclose(prof.weights, np.tile([0.25, 0.75], (4, 1)))
    np.testing.assert_allclose(prof.pooled(), 0.25 * prof.matrices[:, 0] + 0.75 * prof.matrices[:, 1])
    assert prof.shape == (4, 2, 3) and prof.mask.all()
    assert prof.candidates[1].tolist() == [0, 1, 2]


def test_from_rewards_samples():
    r = _random_bt()
    samples = r[None] + np.random.default_rng(1).normal(size=(5, 4, 2, 3))
    prof = mp.Profile.from_rewards(r, weights=[0.5, 0.5], reward_samples=samples)
    assert prof.samples.shape == (5, 4, 2, 3, 3)
    np.testing.assert_allclose(prof.samples[3, 2, 1, 0, 1], expit(samples[3, 2, 1, 0] - samples[3, 2, 1, 1]))
    assert prof.pooled_samples().shape == (5, 4, 3, 3)


def test_ragged_prompts_are_padded_and_masked():
    prof = mp.Profile.from_rewards(
        [np.array([[0.0, 1.0]]), np.array([[0.0, 1.0, 2.0, 3.0]])],
        weights=[1.0],
        candidates=[["a", "b"], ["c", "d", "e", "f"]],
        prompts=["p1", "p2"],
    )
    assert prof.mask.tolist() == [[True, True, False, False], [True] * 4]
    assert prof.candidates[0].tolist() == ["a", "b", None, None]
    assert prof.rewards[0, 0].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert (prof.matrices[0, 0, 2:] == 0.5).all()
    assert list(prof.prompts) == ["p1", "p2"]
    lot = mp.aggregate(prof, "borda")
    frame = lot.to_frame()
    assert len(frame) == 6
    assert frame.loc[frame.prompt_id == "p1", "response_id"].tolist() == ["a", "b"]
    assert lot.top().to_dict() == {"p1": "b", "p2": "f"}


def test_mask_with_nan_at_padding_is_accepted():
    mats = np.full((1, 1, 3, 3), np.nan)
    mats[0, 0, :2, :2] = [[0.5, 0.9], [0.1, 0.5]]
    prof = mp.Profile(mats, weights=[1.0], mask=[[True, True, False]])
    assert np.isfinite(prof.matrices).all()
    assert mp.aggregate(prof, "maximal_lottery").probs.tolist() == [[1.0, 0.0, 0.0]]


@pytest.mark.parametrize(
    "mats, match",
    [
        (np.array([[[[0.5, 1.2], [-0.2, 0.5]]]]), r"matrices\[0, 0, 0, 1\].*\[0, 1\]"),
        (np.array([[[[0.5, 0.7], [0.4, 0.5]]]]), "sum to 1.1"),
        (np.array([[[[0.5, np.nan], [0.4, 0.5]]]]), "probability"),
        (np.zeros((2, 2)), "expected shape"),
    ],
)
def test_bad_matrices_raise_data_error(mats, match):
    with pytest.raises(mp.DataError, match=match):
        mp.Profile(mats, weights=[1.0])


def test_ties_flag_allows_tie_mass():
    mats = np.array([[[[0.5, 0.3], [0.4, 0.5]]]])  # 30% tie
    with pytest.raises(mp.DataError, match="ties=True"):
        mp.Profile(mats, weights=[1.0])
    prof = mp.Profile(mats, weights=[1.0], ties=True)
    # half-tie win rate: (1 + 0.3 - 0.4) / 2
    np.testing.assert_allclose(prof.win_rates()[0, 0, 0, 1], 0.45)
    with pytest.raises(mp.DataError, match="<= 1"):
        mp.Profile(np.array([[[[0.5, 0.7], [0.4, 0.5]]]]), weights=[1.0], ties=True)


@pytest.mark.parametrize(
    "weights, match",
    [([0.5, 0.6], "sums to 1.1"), ([1.5, -0.5], "nonnegative"), ([1.0], "shape"), ([[1.0, 0.0]] * 3, "shape")],
)
def test_bad_weights(weights, match):
    with pytest.raises(mp.DataError, match=match):
        mp.Profile(np.full((2, 2, 3, 3), 0.5), weights=weights)


def test_bad_candidates_prompts_rewards_samples():
    mats = np.full((2, 1, 2, 2), 0.5)
    with pytest.raises(mp.DataError, match="repeats"):
        mp.Profile(mats, [1.0], candidates=[["a", "a"], ["b", "c"]])
    with pytest.raises(mp.DataError, match="duplicate prompt"):
        mp.Profile(mats, [1.0], prompts=["x", "x"])
    with pytest.raises(mp.DataError, match="rewards"):
        mp.Profile(mats, [1.0], rewards=np.zeros((2, 1, 3)))
    with pytest.raises(mp.DataError, match=r"rewards\[1, 0, 0\]"):
        mp.Profile(mats, [1.0], rewards=np.array([[[0.0, 1.0]], [[np.inf, 0.0]]]))
    with pytest.raises(mp.DataError, match="samples"):
        mp.Profile(mats, [1.0], samples=np.full((3, 2, 1, 3, 3), 0.5))
    with pytest.raises(mp.DataError, match="no candidate"):
        mp.Profile(mats, [1.0], mask=[[False, False], [True, True]])


def test_majority_margin_counts_types_not_probabilities():
    # type 0 (weight 0.6) barely prefers a; type 1 (0.4) strongly prefers b
    mats = np.array([[[[0.5, 0.55], [0.45, 0.5]], [[0.5, 0.0], [1.0, 0.5]]]])
    prof = mp.Profile(mats, weights=[0.6, 0.4])
    np.testing.assert_allclose(prof.majority_margin()[0], [[0, 0.2], [-0.2, 0]])
    assert prof.majority()[0, 0, 1] == 1
    # the pooled matrix favours b: the two readings of the same profile disagree
    assert prof.pooled()[0, 0, 1] < 0.5
    assert mp.aggregate(prof, "copeland").probs[0].tolist() == [1.0, 0.0]
    assert mp.aggregate(prof, "borda").probs[0].tolist() == [0.0, 1.0]


def test_relations_cycle_smith_pareto():
    # a>b>c>a cycle on top of d, which everyone ranks last
    rel = np.zeros((1, 4, 4), dtype=np.int8)
    for i, j in [(0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3)]:
        rel[0, i, j], rel[0, j, i] = 1, -1
    mask = np.ones((1, 4), bool)
    assert has_cycle(rel, mask).tolist() == [True]
    assert smith_set(rel, mask).tolist() == [[True, True, True, False]]
    # d is Pareto-dominated when both types put it below a
    mats = np.full((1, 2, 4, 4), 0.5)
    mats[0, :, 0, 3], mats[0, :, 3, 0] = 0.9, 0.1
    assert pareto_dominated(mats, np.array([[0.5, 0.5]]), mask).tolist() == [[False, False, False, True]]
    # a type with zero weight does not protect d
    mats[0, 1, 0, 3], mats[0, 1, 3, 0] = 0.1, 0.9
    assert pareto_dominated(mats, np.array([[1.0, 0.0]]), mask)[0, 3]
    assert not pareto_dominated(mats, np.array([[0.5, 0.5]]), mask)[0, 3]


def test_save_and_load_round_trip(tmp_path):
    r = [np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])]
    samples = [np.full((2, 2, 2, 2), 0.5), np.full((2, 2, 3, 3), 0.5)]
    prof = mp.Profile.from_rewards(r, weights=[0.3, 0.7], candidates=[["a", "b"], [1, 2, 3]], prompts=["x", 7])
    prof2 = mp.Profile(prof.matrices, prof.weights, prof.candidates, prof.prompts, prof.rewards, samples, prof.mask)
    path = tmp_path / "sub" / "profile.npz"
    prof2.save(path)
    back = mp.Profile.load(path)
    np.testing.assert_array_equal(back.matrices, prof2.matrices)
    np.testing.assert_array_equal(back.mask, prof2.mask)
    np.testing.assert_array_equal(back.rewards, prof2.rewards)
    assert back.samples.shape == (2, 2, 2, 3, 3)
    assert back.candidates.tolist() == [["a", "b", None], [1, 2, 3]]
    assert list(back.prompts) == ["x", 7]
    assert isinstance(back.prompts, pd.Index)
    with pytest.raises(FileNotFoundError):
        mp.Profile.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", weights=np.ones(1))
    with pytest.raises(mp.DataError, match="missing arrays"):
        mp.Profile.load(tmp_path / "bad.npz")


def test_from_rewards_with_mask_and_nan_padding():
    r = np.array([[[0.0, 2.0, np.nan]], [[1.0, 0.0, 3.0]]])
    prof = mp.Profile.from_rewards(r, weights=[1.0], mask=[[True, True, False], [True, True, True]])
    assert prof.rewards[0, 0, 2] == 0.0 and np.isfinite(prof.matrices).all()
    lot = mp.aggregate(prof, "utilitarian")
    assert lot.probs.tolist() == [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert np.isnan(lot.scores[0, 2])
    with pytest.raises(mp.DataError, match=r"rewards\[0, 0, 2\]"):
        mp.Profile.from_rewards(r, weights=[1.0])

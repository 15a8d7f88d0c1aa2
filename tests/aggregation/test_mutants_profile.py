"""Profile: construction, padding, derived views and error messages, value by value.

Written to kill mutmut survivors (tests/MUTATION.md). Expected values are written out by
hand from the definitions in the docstrings (Bradley–Terry, weighted majority margins,
half-tie win rates), never read back from the code under test.
"""

import numpy as np
import pytest

import mixpref as mp


def test_repr_names_prompts_types_candidates_and_extras():
    p = mp.Profile.from_rewards(np.zeros((2, 1, 3)), [1.0], reward_samples=np.zeros((5, 2, 1, 3)))
    assert repr(p) == "Profile(2 prompts, 1 types, up to 3 candidates, rewards, 5 samples)"
    q = mp.Profile(np.full((1, 2, 2, 2), 0.5), [0.5, 0.5])
    assert repr(q) == "Profile(1 prompts, 2 types, up to 2 candidates)"


def test_with_texts_is_a_copy_carrying_texts():
    p = mp.Profile(np.full((2, 1, 3, 3), 0.5), [1.0], candidates=[["a", "b", "c"], ["b", "d", "e"]])
    q = p.with_texts({"b": "Bee", "e": 5})
    assert q is not p and p.texts is None
    assert q.matrices is p.matrices
    assert q.texts.tolist() == [[None, "Bee", None], ["Bee", None, "5"]]


def test_pooled_samples_needs_samples():
    p = mp.Profile(np.full((1, 1, 2, 2), 0.5), [1.0])
    with pytest.raises(mp.DataError) as err:
        p.pooled_samples()
    assert str(err.value) == "Profile samples: this profile has no posterior samples (pass samples=...)"


def test_ragged_rewards_and_samples_are_padded_to_the_matrices():
    mats = np.full((2, 1, 3, 3), 0.5)
    rewards = [np.array([[1.0, 2.0]]), np.array([[3.0, 4.0, 5.0]])]
    samples = [np.full((2, 1, 2, 2), 0.5), np.full((2, 1, 3, 3), 0.5)]
    samples[0][1, 0] = [[0.5, 0.9], [0.1, 0.5]]
    p = mp.Profile(mats, [1.0], rewards=rewards, samples=samples, mask=[[True, True, False], [True, True, True]])
    np.testing.assert_array_equal(p.rewards, [[[1.0, 2.0, 0.0]], [[3.0, 4.0, 5.0]]])
    assert p.samples.shape == (2, 2, 1, 3, 3)
    np.testing.assert_array_equal(p.samples[1, 0, 0], [[0.5, 0.9, 0.5], [0.1, 0.5, 0.5], [0.5, 0.5, 0.5]])
    too_wide = [np.zeros((1, 4)), np.zeros((1, 3))]
    with pytest.raises(mp.DataError) as err:
        mp.Profile(mats, [1.0], rewards=too_wide)
    assert str(err.value) == "Profile rewards: 4 candidates on some prompt, matrices have at most 3"


def test_ragged_input_errors_name_the_prompt():
    with pytest.raises(mp.DataError) as err:
        mp.Profile([np.full((1, 2, 2), 0.5), np.full((2, 3, 3), 0.5)], [1.0])
    assert str(err.value) == ("Profile matrices[1]: leading shape (2,) differs from prompt 0's (1,); "
                              "expected the same number of types (and samples) per prompt")
    with pytest.raises(mp.DataError) as err:
        mp.Profile([np.full((1, 2, 2), 0.5), np.full((2, 2), 0.5)], [1.0])
    assert str(err.value) == "Profile matrices[1]: expected 3 axes, got shape (2, 2)"
    with pytest.raises(mp.DataError) as err:
        mp.Profile([np.full((1, 2, 2), 0.5), [[["a", "b"], ["c", "d"]]]], [1.0])
    assert str(err.value).startswith("Profile matrices[1]: expected numbers (")
    with pytest.raises(mp.DataError) as err:
        mp.Profile([np.full((1, 2, 3), 0.5)], [1.0])
    assert str(err.value) == "Profile matrices[0]: candidate axes differ in length, shape (1, 2, 3)"
    with pytest.raises(mp.DataError) as err:
        mp.Profile([], [1.0])
    assert str(err.value) == "Profile matrices: got an empty list; expected one array per prompt"


def test_reward_utilities_and_reward_samples_errors():
    p = mp.Profile(np.full((1, 1, 2, 2), 0.5), [1.0])
    with pytest.raises(mp.DataError) as err:
        p.utilities("reward")
    assert str(err.value) == ("Profile rewards: this rule needs per-type rewards (utility='reward') but the profile "
                              "has none; build it with Profile(..., rewards=...) or Profile.from_rewards, or use "
                              "utility='winrate'")
    with pytest.raises(mp.DataError) as err:
        mp.Profile.from_rewards(np.zeros((1, 1, 2)), [1.0], reward_samples=np.array([[[["a", "b"]]]]))
    assert str(err.value).startswith("Profile reward_samples: expected numbers (")


def test_mask_and_candidate_errors_name_shapes_and_prompts():
    ragged = [np.full((1, 2, 2), 0.5), np.full((1, 3, 3), 0.5)]
    with pytest.raises(mp.DataError) as err:
        mp.Profile(ragged, [1.0], mask=np.ones((2, 4), dtype=bool))
    assert str(err.value) == "Profile mask: shape (2, 4), expected (2, 3) (prompts, max candidates)"
    mask = np.zeros((7, 2), dtype=bool)
    mask[0] = True
    with pytest.raises(mp.DataError) as err:
        mp.Profile(np.full((7, 1, 2, 2), 0.5), [1.0], mask=mask)
    assert str(err.value) == "Profile mask: prompts [1, 2, 3, 4, 5] have no candidate; expected at least one"
    with pytest.raises(mp.DataError) as err:
        mp.Profile(np.full((1, 1, 3, 3), 0.5), [1.0], candidates=[["a", "b"]])
    assert str(err.value) == "Profile candidates: prompt 0 has 2 ids for 3 candidates; expected one id each"
    with pytest.raises(mp.DataError) as err:
        mp.Profile(np.full((2, 1, 3, 3), 0.5), [1.0], rewards=[np.zeros((1, 3)), np.zeros(3)])
    assert str(err.value) == "Profile rewards[1]: expected 2 axes, got shape (3,)"


def test_ragged_rewards_and_samples_narrower_than_the_matrices_are_padded():
    mats = np.full((2, 1, 4, 4), 0.5)
    mask = [[True, True, False, False], [True, True, True, False]]
    rewards = [np.array([[1.0, 2.0]]), np.array([[3.0, 4.0, 5.0]])]
    samples = [np.full((2, 1, 2, 2), 0.5), np.full((2, 1, 3, 3), 0.5)]
    samples[1][0, 0] = [[0.5, 0.9, 0.3], [0.1, 0.5, 0.6], [0.7, 0.4, 0.5]]
    p = mp.Profile(mats, [1.0], rewards=rewards, samples=samples, mask=mask)
    np.testing.assert_array_equal(p.rewards, [[[1.0, 2.0, 0.0, 0.0]], [[3.0, 4.0, 5.0, 0.0]]])
    assert p.samples.shape == (2, 2, 1, 4, 4)
    want = np.full((4, 4), 0.5)
    want[:3, :3] = samples[1][0, 0]
    np.testing.assert_array_equal(p.samples[0, 1, 0], want)

"""Rule helpers at their documented edges (written to kill mutmut survivors; tests/MUTATION.md)."""

import numpy as np

from mixpref.aggregation import rules


def test_argmax_ties_are_within_1e9_relative_to_at_least_one():
    mask = np.ones((1, 3), dtype=bool)
    # |best| < 1: the tolerance is 1e-9 absolute
    assert rules._argmax_lottery(np.array([[0.5, 0.5 - 0.5e-9, 0.5 - 1.5e-9]]), mask).tolist() == [[0.5, 0.5, 0.0]]
    # |best| = 1000: the tolerance is 1e-6
    got = rules._argmax_lottery(np.array([[1000.0, 1000.0 - 0.9e-6, 1000.0 - 1.1e-6]]), mask)
    assert got.tolist() == [[0.5, 0.5, 0.0]]
    # padding never wins, even with the best score
    got = rules._argmax_lottery(np.array([[1.0, 2.0, 5.0]]), np.array([[True, True, False]]))
    assert got.tolist() == [[0.0, 1.0, 0.0]]


def _posterior_profile():
    import mixpref as mp

    rng = np.random.default_rng(2)
    rewards = rng.normal(size=(3, 2, 4))
    draws = rewards[None] + 0.3 * rng.normal(size=(6, 3, 2, 4))
    return mp.Profile.from_rewards(rewards, [0.6, 0.4], reward_samples=draws)


def test_aggregate_posterior_path_passes_profile_rule_and_study():
    import mixpref as mp
    from mixpref import events
    from mixpref.aggregation.posterior import aggregate_posterior

    prof = _posterior_profile()
    seen = []
    handle = events.subscribe(lambda name, payload: seen.append(payload))
    try:
        post = mp.aggregate(prof, "copeland", posterior=True, study=False)
    finally:
        events.unsubscribe(handle)
    want = aggregate_posterior(prof, "copeland", study=False)
    np.testing.assert_array_equal(post.mean.probs, want.mean.probs)
    assert post.mean.rule == "copeland"
    assert [p["study"] for p in seen] == [False] and seen[0]["rule"] == "copeland"


def test_aggregate_event_carries_the_lottery():
    import mixpref as mp
    from mixpref import events

    prof = _posterior_profile()
    seen = []
    handle = events.subscribe(lambda name, payload: seen.append((name, payload)))
    try:
        lot = mp.aggregate(prof, "borda", study=False)
    finally:
        events.unsubscribe(handle)
    assert len(seen) == 1 and seen[0][0] == "aggregate"
    assert seen[0][1]["lottery"] is lot and seen[0][1]["options"] == {}


def test_kemeny_takes_exactly_twelve_candidates():
    import mixpref as mp

    rng = np.random.default_rng(0)
    prof = mp.Profile.from_rewards(rng.normal(size=(1, 1, 12)), [1.0])
    lot = mp.aggregate(prof, "kemeny")
    # one BT type: its ranking is the Kemeny ranking, its favourite the winner
    assert lot.probs[0].argmax() == prof.rewards[0, 0].argmax() and lot.probs[0].max() == 1.0

"""Rules applied to posterior draws, and the ensemble's effective reward.

Oracles: each draw's lottery is compared with ``mp.aggregate`` on a profile built
independently from that draw's rewards (``Profile.from_rewards``); summaries are checked
against hand computations on two-candidate profiles.
"""

import numpy as np
import pytest
from scipy.special import expit

import mixpref as mp
from mixpref.aggregation.effective import effective_profile, effective_rewards, reward_draws
from mixpref.aggregation.posterior import LotteryPosterior, aggregate_posterior


def _drawn_profile(n_draws=12, n_prompts=15, n_types=3, n_cands=5, noise=0.7, seed=0):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(n_prompts, n_types, n_cands)) * 1.5
    draws = rewards + noise * rng.normal(size=(n_draws, n_prompts, n_types, n_cands))
    weights = rng.dirichlet(np.ones(n_types), size=n_prompts)
    return mp.Profile.from_rewards(rewards, weights, reward_samples=draws), draws, weights


@pytest.mark.parametrize(
    "rule, options",
    [
        ("borda", {}),
        ("copeland", {}),
        ("majority", {}),
        ("pooled", {}),
        ("maxmin", {}),
        ("utilitarian", {}),
        ("dictator", {"type": 1}),
    ],
)
def test_each_draw_matches_the_rule_on_that_draws_profile(rule, options):
    prof, draws, weights = _drawn_profile()
    post = aggregate_posterior(prof, rule, **options)
    assert isinstance(post, LotteryPosterior)
    assert post.metadata["batched"] is True
    for s in range(draws.shape[0]):
        oracle = mp.aggregate(mp.Profile.from_rewards(draws[s], weights), rule, **options)
        np.testing.assert_allclose(post.draws[s], oracle.probs, atol=1e-6, err_msg=f"draw {s}")
    np.testing.assert_allclose(post.mean.probs, post.draws.mean(axis=0))


def test_batched_and_looped_agree_and_blocks_do_not_matter():
    prof, _, _ = _drawn_profile(seed=3)
    a = aggregate_posterior(prof, "copeland")
    b = aggregate_posterior(prof, "copeland", batch=False)
    c = aggregate_posterior(prof, "copeland", draws_per_batch=5)
    assert b.metadata["batched"] is False
    for other in (b, c):
        np.testing.assert_array_equal(a.draws, other.draws)
        np.testing.assert_allclose(a.exploitability, other.exploitability)
        np.testing.assert_allclose(a.type_win_rates, other.type_win_rates)


def test_maximal_lottery_selfplay_over_draws_matches_lp_per_draw():
    prof, draws, weights = _drawn_profile(n_draws=8, n_prompts=20, n_cands=6, seed=5)
    post = aggregate_posterior(prof, "maximal_lottery", tol=1e-9)
    assert post.metadata["options"]["method"] == "selfplay"
    for s in range(draws.shape[0]):
        oracle = mp.aggregate(mp.Profile.from_rewards(draws[s], weights), "maximal_lottery", method="lp")
        np.testing.assert_allclose(post.draws[s], oracle.probs, atol=1e-5)


def test_two_candidate_summaries_by_hand():
    # one type; the reward gap of candidate 0 over 1 is +1 in three draws and -2 in one
    gaps = np.array([1.0, 1.0, 1.0, -2.0])
    draws = np.zeros((4, 1, 1, 2))
    draws[:, 0, 0, 0] = gaps
    prof = mp.Profile.from_rewards(np.array([[[0.5, 0.0]]]), [1.0], reward_samples=draws)
    post = aggregate_posterior(prof, "borda")
    np.testing.assert_allclose(post.mean.probs, [[0.75, 0.25]])
    np.testing.assert_allclose(post.winner_probability, [[0.75, 0.25]])
    np.testing.assert_allclose(post.support_probability, [[0.75, 0.25]])
    # the mean lottery x = (3/4, 1/4) under draw s with a = P(0>1) - P(1>0) = 2 sigmoid(gap) - 1:
    # payoffs (a x_1, -a x_0); exploitability max(a/4, -3a/4, 0)
    a = 2 * expit(gaps) - 1
    np.testing.assert_allclose(post.exploitability[:, 0], np.maximum(np.maximum(a / 4, -3 * a / 4), 0))
    # win rate vs a uniform candidate: u(0) = (1/2 + p)/2, u(1) = (1/2 + 1 - p)/2, p = sigmoid(gap)
    p = expit(gaps)
    u0, u1 = (0.5 + p) / 2, (1.5 - p) / 2
    np.testing.assert_allclose(post.type_win_rates[:, 0, 0], 0.75 * u0 + 0.25 * u1)
    own = np.where(gaps > 0, u0, u1)
    np.testing.assert_allclose(post.type_win_rates_draw[:, 0, 0], own)
    table = post.win_rate_interval(level=0.5)
    np.testing.assert_allclose(table.loc[0, "lower"], np.quantile(0.75 * u0 + 0.25 * u1, 0.25))
    np.testing.assert_allclose(table.loc[0, "upper"], np.quantile(0.75 * u0 + 0.25 * u1, 0.75))
    frame = post.to_frame()
    assert frame["winner_probability"].tolist() == [0.75, 0.25]


def test_pairwise_posteriors_by_hand():
    gaps = np.array([1.0, 1.0, 1.0, -2.0])
    draws = np.zeros((4, 1, 1, 2))
    draws[:, 0, 0, 0] = gaps
    prof = mp.Profile.from_rewards(np.array([[[0.5, 0.0]]]), [1.0], reward_samples=draws)
    post = aggregate_posterior(prof, "borda")
    np.testing.assert_allclose(post.preference_probability()[0], [[0.0, 0.75], [0.25, 0.0]])
    low = post.pairwise_quantile(0.0)[0]
    np.testing.assert_allclose(low[0, 1], expit(-2.0))
    np.testing.assert_allclose(low[1, 0], expit(-1.0))
    assert np.isnan(low[0, 0])
    with pytest.raises(mp.DataError, match="q"):
        post.pairwise_quantile(2)


def test_win_rate_intervals_shrink_with_less_posterior_spread():
    widths = []
    for noise in (1.0, 0.1):
        prof, _, _ = _drawn_profile(n_draws=40, noise=noise, seed=11)
        t = aggregate_posterior(prof, "borda").win_rate_interval(level=0.9)
        widths.append((t["upper"] - t["lower"]).mean())
        per_prompt = aggregate_posterior(prof, "borda").win_rate_interval(per_prompt=True)
        assert len(per_prompt) == (prof.weights > 0).sum()
        assert (per_prompt["lower"] <= per_prompt["upper"]).all()
    assert widths[1] < widths[0] / 3


def test_ragged_profile_keeps_padding_empty():
    rng = np.random.default_rng(2)
    rewards = [rng.normal(size=(2, 3)), rng.normal(size=(2, 5))]
    draws = [r + 0.3 * rng.normal(size=(6, *r.shape)) for r in rewards]
    prof = mp.Profile.from_rewards(rewards, [0.5, 0.5], reward_samples=draws)
    post = aggregate_posterior(prof, "maximal_lottery")
    assert post.draws.shape == (6, 2, 5)
    assert np.all(post.draws[:, 0, 3:] == 0) and np.all(post.support_probability[0, 3:] == 0)
    np.testing.assert_allclose(post.draws.sum(axis=2), 1.0)
    assert set(post.to_frame()["response_id"][post.to_frame()["prompt_id"] == 0]) == {0, 1, 2}


def test_profile_without_draws_names_the_inference_that_gives_them():
    prof = mp.Profile.from_rewards(np.zeros((1, 1, 3)), [1.0])
    with pytest.raises(mp.DataError, match="svi.*ensemble.*laplace"):
        aggregate_posterior(prof, "borda")
    drawn, _, _ = _drawn_profile()
    with pytest.raises(mp.DataError, match="quantile"):
        aggregate_posterior(drawn, "quantile")
    with pytest.raises(mp.DataError, match="draws_per_batch"):
        aggregate_posterior(drawn, "borda", draws_per_batch=0)
    with pytest.raises(mp.DataError, match="level"):
        aggregate_posterior(drawn, "borda").win_rate_interval(level=1.5)


def test_posterior_emits_one_loggable_aggregate_event():
    from mixpref import events

    # the per-draw runs call the raw rule (no event); only the mean lottery is loggable
    seen = []

    def record(name, payload):
        if payload.get("study") is not False:
            seen.append((name, payload.get("options")))

    handle = events.subscribe(record)
    try:
        prof, _, _ = _drawn_profile(n_draws=3)
        aggregate_posterior(prof, "borda")
    finally:
        events.unsubscribe(handle)
    assert [name for name, _ in seen] == ["aggregate"]
    assert seen[0][1]["posterior"] is True


# ---------------------------------------------------------------------- effective reward
def test_effective_reward_limits_are_worst_best_and_mean():
    rng = np.random.default_rng(4)
    draws = rng.normal(size=(30, 4, 2, 5))
    np.testing.assert_allclose(effective_rewards(draws, 0.0), draws.min(axis=0))
    np.testing.assert_allclose(effective_rewards(draws, 0.0, sign=1), draws.max(axis=0))
    np.testing.assert_allclose(effective_rewards(draws, 1e-4), draws.min(axis=0), atol=1e-3)
    np.testing.assert_allclose(effective_rewards(draws, 1e-4, sign=1), draws.max(axis=0), atol=1e-3)
    np.testing.assert_allclose(effective_rewards(draws, 1e5), draws.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(effective_rewards(draws, np.inf), draws.mean(axis=0))
    # in between: worst <= pessimistic <= mean <= optimistic <= best, monotone in beta
    lo, hi = effective_rewards(draws, 1.0), effective_rewards(draws, 1.0, sign=1)
    assert np.all(draws.min(0) <= lo) and np.all(lo <= draws.mean(0)) and np.all(hi <= draws.max(0))
    assert np.all(effective_rewards(draws, 0.5) <= lo + 1e-12)
    with pytest.raises(mp.DataError, match="beta"):
        effective_rewards(draws, -1.0)
    with pytest.raises(mp.DataError, match="sign"):
        effective_rewards(draws, 1.0, sign=0)


def test_reward_draws_recover_the_draws_up_to_a_shift_per_prompt_and_type():
    prof, draws, _ = _drawn_profile(seed=8)
    rec = reward_draws(prof)
    diff = rec - draws
    np.testing.assert_allclose(diff, np.broadcast_to(diff[..., :1], diff.shape), atol=1e-8)
    # the shift puts every draw at the point rewards' mean
    np.testing.assert_allclose(rec.mean(axis=-1), np.broadcast_to(prof.rewards.mean(axis=-1), rec.shape[:-1]), atol=1e-8)


def test_effective_profile_matches_min_and_mean_of_the_draws():
    prof, draws, weights = _drawn_profile(seed=9)
    worst = effective_profile(prof, 0.0, reward_samples=draws)
    np.testing.assert_allclose(worst.rewards, draws.min(axis=0))
    np.testing.assert_allclose(worst.matrices, mp.Profile.from_rewards(draws.min(axis=0), weights).matrices)
    assert worst.samples is None
    mean = effective_profile(prof, 1e6)  # draws read back from the matrices
    np.testing.assert_allclose(mean.rewards, reward_draws(prof).mean(axis=0), atol=1e-4)
    with pytest.raises(mp.DataError, match="svi"):
        effective_profile(mp.Profile.from_rewards(np.zeros((1, 1, 2)), [1.0]), 1.0)
    with pytest.raises(mp.DataError, match="reward_samples"):
        effective_profile(prof, 1.0, reward_samples=draws[:, :3])

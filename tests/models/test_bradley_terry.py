import numpy as np
import pytest

import mixpref as mp

from .conftest import features_for, make_data


def _linear_data(n_resp=60, dim=6, n=3000, seed=0, tie_rate=0.0):
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=(n_resp, dim))
    w = rng.normal(size=dim)
    a = rng.integers(0, n_resp, size=n)
    b = (a + rng.integers(1, n_resp, size=n)) % n_resp
    p = 1 / (1 + np.exp(-(phi[a] - phi[b]) @ w))
    y = (rng.random(n) < p).astype(float)
    if tie_rate:
        y[rng.random(n) < tie_rate] = 0.5
    data = make_data(a, b, y, n_responses=n_resp)
    return data, features_for(data, phi), phi, a, b, y


def test_flat_prior_matches_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    data, feats, phi, a, b, y = _linear_data()
    bt = mp.BradleyTerry(prior_scale=None, dtype="float64").fit(data, feats)
    lr = LogisticRegression(fit_intercept=False, C=1e6, max_iter=10_000, tol=1e-10).fit(phi[a] - phi[b], y)
    coef = lr.coef_[0]
    cos = coef @ bt.coef_ / np.linalg.norm(coef) / np.linalg.norm(bt.coef_)
    assert cos >= 0.999
    np.testing.assert_allclose(bt.coef_, coef, rtol=1e-3, atol=1e-3)


def test_prior_scale_one_equals_sklearn_default_penalty():
    from sklearn.linear_model import LogisticRegression

    data, feats, phi, a, b, y = _linear_data(n=400, seed=1)
    bt = mp.BradleyTerry(prior_scale=1.0, dtype="float64").fit(data, feats)
    lr = LogisticRegression(fit_intercept=False, C=1.0, tol=1e-10, max_iter=10_000).fit(phi[a] - phi[b], y)
    np.testing.assert_allclose(bt.coef_, lr.coef_[0], atol=1e-4)


def test_item_level_matches_choix_ilsr_pairwise():
    import choix

    rng = np.random.default_rng(3)
    n_items = 8
    strength = rng.normal(size=n_items)
    a = rng.integers(0, n_items, size=600)
    b = (a + rng.integers(1, n_items, size=600)) % n_items
    y = (rng.random(600) < 1 / (1 + np.exp(-(strength[a] - strength[b])))).astype(float)
    data = make_data(a, b, y, n_responses=n_items)
    feats = features_for(data, np.eye(n_items))
    ours = mp.BradleyTerry(prior_scale=None, dtype="float64").fit(data, feats).rewards(feats)
    pairs = [(int(i), int(j)) if yy == 1 else (int(j), int(i)) for i, j, yy in zip(a, b, y)]
    theirs = choix.ilsr_pairwise(n_items, pairs, tol=1e-12, max_iter=10_000)
    assert np.max(np.abs((ours - ours.mean()) - (theirs - theirs.mean()))) <= 1e-3


def test_plackett_luce_on_two_item_rankings_equals_bt():
    data, feats, phi, a, b, y = _linear_data(n=800, seed=4)
    winners = np.where(y == 1, a, b)
    losers = np.where(y == 1, b, a)
    ranked = make_data([0], [1], [1], rankings=np.stack([winners, losers], axis=1).tolist(), n_responses=len(phi))
    f_rank = features_for(ranked, phi)
    bt = mp.BradleyTerry(dtype="float64").fit(data, feats)
    pl = mp.BradleyTerry(dtype="float64").fit(ranked, f_rank)
    np.testing.assert_allclose(pl.coef_, bt.coef_, atol=1e-6)
    # and the per-observation log-likelihoods agree
    np.testing.assert_allclose(pl.log_likelihood(ranked, f_rank), bt.log_likelihood(data, feats), atol=1e-6)


def test_plackett_luce_three_items_closed_form():
    data = make_data([0], [1], [1], rankings=[[2, 0, 1]], n_responses=3)
    feats = features_for(data, np.eye(3))
    bt = mp.BradleyTerry(prior_scale=1.0, dtype="float64").fit(data, feats)
    r = bt.rewards(feats)
    expected = (r[2] - np.log(np.exp(r).sum())) + (r[0] - np.log(np.exp(r[0]) + np.exp(r[1])))
    np.testing.assert_allclose(bt.log_likelihood(data, feats), [expected], atol=1e-10)


def test_davidson_without_ties_matches_bt():
    data, feats, *_ = _linear_data(n=1500, seed=5)
    bt = mp.BradleyTerry(dtype="float64", ties="half").fit(data, feats)
    dav = mp.BradleyTerry(dtype="float64", ties="davidson").fit(data, feats)
    cos = bt.coef_ @ dav.coef_ / np.linalg.norm(bt.coef_) / np.linalg.norm(dav.coef_)
    assert cos >= 0.9999
    np.testing.assert_allclose(dav.coef_, bt.coef_, atol=2e-3)
    assert dav.tie_[0] < 1e-2


def test_davidson_learns_tie_rate_and_predicts_ties():
    data, feats, *_ = _linear_data(n=3000, seed=6, tie_rate=0.25)
    m = mp.BradleyTerry().fit(data, feats)  # ties="auto" picks Davidson
    assert m.spec_.ties == "davidson"
    p_tie = m.predict_tie_proba(data, feats)
    assert abs(p_tie.mean() - 0.25) < 0.03
    p_a = m.predict_proba(data, feats)
    assert np.all(p_a + p_tie <= 1 + 1e-9)
    # the likelihood of a tie is its predicted probability
    ll = m.log_likelihood(data, feats)
    ties = data.arrays.y == 0.5
    np.testing.assert_allclose(ll[ties], np.log(p_tie[ties]), rtol=1e-5)


def test_predict_proba_and_score():
    data, feats, *_ = _linear_data(n=1000, seed=7)
    m = mp.BradleyTerry().fit(data, feats)
    p = m.predict_proba(data, feats)
    y = data.arrays.y
    np.testing.assert_allclose(m.log_likelihood(data, feats), np.log(np.where(y == 1, p, 1 - p)), rtol=1e-5)
    assert m.score(data, feats) == pytest.approx(m.log_likelihood(data, feats).mean())
    assert m.rewards(feats).shape == (len(feats),)


def test_mlp_reward_fits():
    data, feats, *_ = _linear_data(n=1500, seed=8)
    lin = mp.BradleyTerry().fit(data, feats)
    mlp = mp.BradleyTerry(reward="mlp", hidden=16).fit(data, feats)
    # the data are linear: a small MLP must find (nearly) the same ranking of the responses
    assert abs(mlp.score(data, feats) - lin.score(data, feats)) < 0.1
    assert np.corrcoef(mlp.rewards(feats), lin.rewards(feats))[0, 1] > 0.9


def test_bad_inputs_raise_data_error():
    data, feats, *_ = _linear_data(n=50, seed=9)
    with pytest.raises(mp.DataError, match="ties"):
        mp.BradleyTerry(ties="maybe").fit(data, feats)
    with pytest.raises(mp.DataError, match="inference"):
        mp.BradleyTerry(inference="mcmc").fit(data, feats)
    with pytest.raises(mp.DataError, match="Features"):
        mp.BradleyTerry().fit(data, mp.Features(["x"], np.zeros((1, 6))))
    with pytest.raises(mp.DataError, match="not fitted"):
        mp.BradleyTerry().rewards(feats)
    with pytest.raises(mp.DataError, match="PreferenceData"):
        mp.BradleyTerry().fit("data.csv", feats)


def test_max_steps_bounds_lbfgs_iterations():
    # LBFGS ran in chunks of 25 iterations, so max_steps=3 used to run up to 25
    rng = np.random.default_rng(0)
    a = rng.integers(0, 10, size=300)
    b = (a + rng.integers(1, 10, size=300)) % 10
    data = make_data(a, b, (rng.random(300) < 0.5).astype(float))
    feats = features_for(data, rng.normal(size=(10, 4)))
    bt = mp.BradleyTerry(max_steps=3, prior_scale=None).fit(data, feats)
    assert bt.fit_trace_.restarts[0]["iterations"] <= 3


def test_random_state_must_be_an_integer_seed():
    # None or a Generator used to crash with a bare TypeError deep inside the fit
    data = make_data([0, 1, 2], [1, 2, 0], [1, 1, 0])
    feats = features_for(data, np.eye(3))
    for seed in (None, np.random.default_rng(0), -1):
        with pytest.raises(mp.DataError, match="random_state"):
            mp.BradleyTerry(random_state=seed).fit(data, feats)
    assert mp.BradleyTerry(random_state=np.int64(3)).fit(data, feats).coef_.shape == (3,)

"""Fitted models against the independent oracles of tests/reference (values, not shapes).

Every test builds its own integer-coded data (so the oracle reads the same arrays the data
were made from, not the library's parsed copy), fits a float64 model, and compares the
model's numbers with the oracle evaluated at the model's fitted parameters (``coef_``,
``weights_``, ``tie_``). The fitted parameters themselves are checked against a scipy
optimisation of the oracle's objective, so a wrong likelihood cannot hide behind a fit that
is consistent with itself.
"""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp

import mixpref as mp

from ..reference import oracles as O
from .conftest import features_for, make_data


# LBFGS stops when the per-observation objective changes by < 1e-9, so the fitted parameters
# agree with scipy's optimum to ~1e-4 and the objective to ~1e-8; the bugs these tests
# guard against move both by orders of magnitude more
TOL_COEF = 1e-3
TOL_MAX = 1e-6


def _embeddings(rng, n, dim):
    # Features store float32: the oracle reads the same rounded values the model sees
    return rng.normal(size=(n, dim)).astype(np.float32).astype(np.float64)


def _pairs(rng, n_resp, n):
    a = rng.integers(0, n_resp, size=n)
    b = (a + rng.integers(1, n_resp, size=n)) % n_resp
    return a, b


def _bt_problem(seed=0, n_resp=12, dim=3, n=150, tie_rate=0.3):
    rng = np.random.default_rng(seed)
    phi = _embeddings(rng, n_resp, dim)
    w = rng.normal(size=dim) * 1.5
    a, b = _pairs(rng, n_resp, n)
    p = 1 / (1 + np.exp(-(phi[a] - phi[b]) @ w))
    y = (rng.random(n) < p).astype(float)
    y[rng.random(n) < tie_rate] = 0.5
    data = make_data(a, b, y, n_responses=n_resp)
    return data, features_for(data, phi), phi, a, b, y


def _argmax(neg_objective, x0):
    # finite-difference gradients: a tighter gtol only burns evaluations on rounding noise
    res = minimize(neg_objective, x0, method="BFGS", options={"gtol": 1e-6, "maxiter": 500})
    return res.x, -res.fun


# ---------------------------------------------------------------- single Bradley–Terry, half ties
def test_half_ties_loglik_objective_and_fit_match_the_reference():
    data, feats, phi, a, b, y = _bt_problem(seed=0)
    assert (y == 0.5).any() and (y == 0).any() and (y == 1).any()
    m = mp.BradleyTerry(ties="half", prior_scale=1.0, dtype="float64").fit(data, feats)
    r = O.linear_rewards(m.coef_, phi)
    ref = O.comparison_loglik_matrix(r, a, b, y, ties="half")[:, 0]
    np.testing.assert_allclose(m.log_likelihood(data, feats), ref, rtol=1e-10)
    assert m.score(data, feats) == pytest.approx(ref.mean(), rel=1e-10)
    np.testing.assert_allclose(m.predict_proba(data, feats), 1 / (1 + np.exp(-(r[a] - r[b]))), rtol=1e-10)
    # the training objective (per observation) is the log posterior at the fitted parameters
    joint = O.log_joint(ref[:, None], list(range(len(y))), [1.0], [m.coef_], prior_scale=1.0)
    assert m.objective_ * len(y) == pytest.approx(joint, rel=1e-9)

    # and the fitted coefficients maximise the reference objective
    def neg(theta):
        ll = O.comparison_loglik_matrix(O.linear_rewards(theta, phi), a, b, y, ties="half")
        return -(ll.sum() + O.normal_log_prior(theta, 1.0))

    best, value = _argmax(neg, np.zeros(phi.shape[1]))
    np.testing.assert_allclose(m.coef_, best, atol=TOL_COEF)
    assert joint == pytest.approx(value, abs=TOL_MAX)


# ---------------------------------------------------------------- Davidson ties
def test_davidson_probabilities_loglik_and_fit_match_the_reference():
    data, feats, phi, a, b, y = _bt_problem(seed=1, tie_rate=0.25)
    m = mp.BradleyTerry(ties="davidson", prior_scale=2.0, dtype="float64").fit(data, feats)
    nu = float(np.asarray(m.tie_).ravel()[0])
    r = O.linear_rewards(m.coef_, phi)
    ref = O.comparison_loglik_matrix(r, a, b, y, ties="davidson", nu=nu)[:, 0]
    np.testing.assert_allclose(m.log_likelihood(data, feats), ref, rtol=1e-10)
    pa, _, pt = O.davidson_probs(r[a], r[b], nu)
    np.testing.assert_allclose(m.predict_proba(data, feats), pa, rtol=1e-10)
    np.testing.assert_allclose(m.predict_tie_proba(data, feats), pt, rtol=1e-10)
    joint = ref.sum() + O.normal_log_prior(m.coef_, 2.0)  # the tie parameter has a flat prior
    assert m.objective_ * len(y) == pytest.approx(joint, rel=1e-9)

    def neg(x):
        ll = O.comparison_loglik_matrix(O.linear_rewards(x[:-1], phi), a, b, y, ties="davidson", nu=np.exp(x[-1]))
        return -(ll.sum() + O.normal_log_prior(x[:-1], 2.0))

    best, _ = _argmax(neg, np.r_[np.zeros(phi.shape[1]), -1.0])
    np.testing.assert_allclose(m.coef_, best[:-1], atol=TOL_COEF)
    assert nu == pytest.approx(np.exp(best[-1]), rel=TOL_COEF)
    assert -neg(np.r_[m.coef_, np.log(nu)]) == pytest.approx(-neg(best), abs=TOL_MAX)


# ---------------------------------------------------------------- Plackett–Luce, rankings of different lengths
def test_plackett_luce_with_rankings_of_different_lengths_matches_the_reference():
    rng = np.random.default_rng(2)
    n_resp, dim = 10, 3
    phi = _embeddings(rng, n_resp, dim)
    w = rng.normal(size=dim)
    rankings = []
    for i in range(60):
        length = 2 + i % 4  # 2, 3, 4 and 5 items: every padding width
        items = rng.choice(n_resp, size=length, replace=False)
        g = -np.log(-np.log(rng.random(length)))  # Gumbel-max draws a Plackett–Luce ranking
        rankings.append(items[np.argsort(-(phi[items] @ w + g))].tolist())
    data = make_data([0], [1], [1], rankings=rankings, n_responses=n_resp)
    feats = features_for(data, phi)
    m = mp.BradleyTerry(prior_scale=1.0, dtype="float64").fit(data, feats)
    ref = O.ranking_loglik_matrix(O.linear_rewards(m.coef_, phi), rankings)[:, 0]
    np.testing.assert_allclose(m.log_likelihood(data, feats), ref, rtol=1e-10)

    def neg(theta):
        return -(O.ranking_loglik_matrix(O.linear_rewards(theta, phi), rankings).sum() + O.normal_log_prior(theta, 1.0))

    best, value = _argmax(neg, np.zeros(dim))
    np.testing.assert_allclose(m.coef_, best, atol=TOL_COEF)
    assert m.objective_ * len(rankings) == pytest.approx(-neg(m.coef_), rel=1e-9)
    assert m.objective_ * len(rankings) == pytest.approx(value, abs=TOL_MAX)


# ---------------------------------------------------------------- mixtures
def _mixture_problem(seed=4, n_ann=40, per_ann=4, n_resp=16, dim=4, weights=(0.75, 0.25), strength=1.5):
    """Few comparisons per annotator (posteriors stay unsaturated), unequal type weights."""
    rng = np.random.default_rng(seed)
    phi = _embeddings(rng, n_resp, dim)
    W = rng.normal(size=(len(weights), dim))
    W = strength * W / np.linalg.norm(W, axis=1, keepdims=True)
    W[1] = -W[0] + 0.3 * W[1]  # types that disagree
    types = rng.choice(len(weights), size=n_ann, p=weights)
    ann = np.repeat(np.arange(n_ann), per_ann)
    a, b = _pairs(rng, n_resp, len(ann))
    p = 1 / (1 + np.exp(-np.einsum("nd,nd->n", phi[a] - phi[b], W[types[ann]])))
    y = (rng.random(len(ann)) < p).astype(float)
    data = make_data(a, b, y, annotator=ann, n_responses=n_resp)
    return data, features_for(data, phi), phi, a, b, y, ann


@pytest.fixture(scope="module")
def fitted_mixture():
    data, feats, phi, a, b, y, ann = _mixture_problem()
    m = mp.MixtureBT(n_types=2, n_restarts=2, prior_scale=1.0, dtype="float64").fit(data, feats)
    return m, data, feats, phi, a, b, y, ann


def test_mixture_responsibilities_use_the_type_weights(fitted_mixture):
    m, data, feats, phi, a, b, y, ann = fitted_mixture
    w = m.weights_
    assert abs(w[0] - w[1]) > 0.2  # unequal weights: a posterior without them would differ
    ll = O.comparison_loglik_matrix(O.linear_rewards(m.coef_, phi), a, b, y)
    labels, post = O.type_posterior(ll, list(ann), w)
    resp = m.responsibilities_.loc[[f"u{g}" for g in labels]].to_numpy()
    # few comparisons each: many annotators are genuinely uncertain
    assert ((post[:, 0] > 0.05) & (post[:, 0] < 0.95)).sum() >= 5
    np.testing.assert_allclose(resp, post, rtol=1e-8, atol=1e-12)
    # type_posterior on new data is the same Bayes rule
    np.testing.assert_allclose(m.type_posterior(data, feats).loc[[f"u{g}" for g in labels]].to_numpy(), post,
                               rtol=1e-8, atol=1e-12)


def test_mixture_predictions_and_objective_match_the_reference(fitted_mixture):
    m, data, feats, phi, a, b, y, ann = fitted_mixture
    w = m.weights_
    R = O.linear_rewards(m.coef_, phi)
    ll = O.comparison_loglik_matrix(R, a, b, y)
    labels, post = O.type_posterior(ll, list(ann), w)
    row = {g: i for i, g in enumerate(labels)}
    post_obs = post[[row[g] for g in ann]]
    # seen annotators are predicted with their posterior (computed here, not read from the model)
    p_types = 1 / (1 + np.exp(-(R[:, a] - R[:, b]).T))
    np.testing.assert_allclose(m.predict_proba(data, feats), (post_obs * p_types).sum(1), rtol=1e-8)
    np.testing.assert_allclose(m.log_likelihood(data, feats), logsumexp(np.log(post_obs) + ll, axis=1), rtol=1e-8)
    # the training objective is the exact marginal plus the Normal and Dirichlet priors
    joint = O.log_joint(ll, list(ann), w, [m.coef_], prior_scale=1.0, concentration=1.0)
    assert m.objective_ * len(y) == pytest.approx(joint, rel=1e-9)
    # new annotators (ids the model never saw): prequential prediction from the weights
    frame = data.to_frame()
    frame["annotator"] = "new-" + frame["annotator"].astype(str)
    fresh = mp.PreferenceData.from_frame(frame, annotator="annotator", responses=data.responses)
    seq = O.sequential_loglik(ll, list(ann), w)
    np.testing.assert_allclose(m.log_likelihood(fresh, feats), seq, rtol=1e-8)
    np.testing.assert_allclose(m.log_likelihood(fresh, feats, new_annotators="prior"),
                               logsumexp(np.log(w) + ll, axis=1), rtol=1e-8)


def test_mixture_fit_is_a_maximum_of_the_reference_objective(fitted_mixture):
    m, data, feats, phi, a, b, y, ann = fitted_mixture
    K, d = m.coef_.shape
    groups = list(ann)

    def neg(x):
        theta, logits = x[: K * d].reshape(K, d), np.r_[0.0, x[K * d:]]
        w = np.exp(logits - logsumexp(logits))
        ll = O.comparison_loglik_matrix(O.linear_rewards(theta, phi), a, b, y)
        return -O.log_joint(ll, groups, w, [theta], prior_scale=1.0)

    x0 = np.r_[m.coef_.ravel(), np.log(m.weights_[1:] / m.weights_[0])]
    res = minimize(neg, x0, method="BFGS", options={"gtol": 1e-6, "maxiter": 200})
    assert -res.fun - (-neg(x0)) < 1e-6 * len(y)  # no better point nearby
    np.testing.assert_allclose(res.x, x0, atol=1e-3)


def test_restarts_keep_the_best_objective():
    # weak, ambiguous signal and short fits: restarts end at different objectives
    data, feats, *_ = _mixture_problem(seed=5, n_ann=30, per_ann=6, weights=(0.4, 0.35, 0.25), strength=1.0)
    m = mp.MixtureBT(n_types=3, n_restarts=4, max_steps=5, dtype="float64").fit(data, feats)
    values = [r["objective"] for r in m.fit_trace_.restarts if r["objective"] is not None]
    assert len(values) >= 2 and max(values) - min(values) > 1e-6  # the check below can tell them apart
    assert m.objective_ == max(values)


def test_observation_level_mixture_matches_the_reference():
    data, feats, phi, a, b, y, _ = _mixture_problem(seed=6, n_ann=20, per_ann=10)
    m = mp.MixtureBT(n_types=2, level="observation", n_restarts=1, dtype="float64").fit(data, feats)
    w = m.weights_
    ll = O.comparison_loglik_matrix(O.linear_rewards(m.coef_, phi), a, b, y)
    _, post = O.type_posterior(ll, list(range(len(y))), w)  # each observation draws its own type
    np.testing.assert_allclose(m.responsibilities_.to_numpy(), post, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(m.log_likelihood(data, feats), logsumexp(np.log(w) + ll, axis=1), rtol=1e-8)
    joint = O.log_joint(ll, list(range(len(y))), w, [m.coef_], prior_scale=1.0)
    assert m.objective_ * len(y) == pytest.approx(joint, rel=1e-9)


# ---------------------------------------------------------------- MLP reward head
def test_mlp_reward_loglik_and_stationarity_match_the_reference():
    from scipy.optimize import approx_fprime

    data, feats, phi, a, b, y = _bt_problem(seed=8, n=300, tie_rate=0.0)
    m = mp.BradleyTerry(reward="mlp", hidden=6, prior_scale=1.0, dtype="float64").fit(data, feats)
    p = {k: v.double().numpy() for k, v in m.params_.items()}
    r = O.mlp_rewards(p["w1"], p["b1"], p["w2"], phi)[0]
    np.testing.assert_allclose(m.rewards(feats), r, rtol=1e-9, atol=1e-12)
    ref = O.comparison_loglik_matrix(r, a, b, y)[:, 0]
    np.testing.assert_allclose(m.log_likelihood(data, feats), ref, rtol=1e-9)
    # the fitted weights are a stationary point of the reference posterior
    shapes = [p[k].shape for k in ("w1", "b1", "w2")]
    sizes = [int(np.prod(s)) for s in shapes]

    def log_post(x):
        parts = np.split(x, np.cumsum(sizes)[:-1])
        w1, b1, w2 = (v.reshape(s) for v, s in zip(parts, shapes))
        ll = O.comparison_loglik_matrix(O.mlp_rewards(w1, b1, w2, phi), a, b, y).sum()
        return (ll + O.normal_log_prior(x, 1.0)) / len(y)

    x0 = np.concatenate([p[k].ravel() for k in ("w1", "b1", "w2")])
    assert m.objective_ == pytest.approx(log_post(x0), rel=1e-9)
    grad = approx_fprime(x0, log_post, 1e-6)
    assert np.abs(grad).max() < 1e-4, np.abs(grad).max()


# ---------------------------------------------------------------- mixture of policy-likelihood types
def test_mixture_pl_policy_loglik_and_posteriors_match_the_reference():
    rng = np.random.default_rng(9)
    n_prompts, per_prompt, dim, beta = 3, 6, 4, 0.5
    n_resp = n_prompts * per_prompt
    prompt_of = np.repeat(np.arange(n_prompts), per_prompt)
    phi = _embeddings(rng, n_resp, dim)
    W = rng.normal(size=(2, dim))
    W[1] = -W[0]
    ann = np.repeat(np.arange(24), 5)
    types = (np.arange(24) % 3 == 0).astype(int)  # weights about 2/3 and 1/3
    p_idx = rng.integers(0, n_prompts, size=len(ann))
    i, j = (np.stack([rng.choice(per_prompt, 2, replace=False) for _ in ann]) + p_idx[:, None] * per_prompt).T
    y = (rng.random(len(ann)) < 1 / (1 + np.exp(-np.einsum("nd,nd->n", phi[i] - phi[j], W[types[ann]])))).astype(float)
    data = make_data(i, j, y, annotator=ann, response_prompt=prompt_of, n_responses=n_resp)
    feats = features_for(data, phi)
    m = mp.MixturePL(n_types=2, n_restarts=2, beta=beta, prior_scale=1.0, dtype="float64").fit(data, feats)
    R = O.linear_rewards(m.coef_, phi) / beta  # pi_k(y|x) ∝ exp(f_k(phi) / beta) (no reference policy)
    np.testing.assert_allclose(m.rewards(feats), R, rtol=1e-9, atol=1e-12)
    pol = m.policy(data, feats)
    rows = [int(rid[1:]) for rid in pol["response_id"]]
    for k in range(2):
        expected = np.exp(R[k] - np.array([np.log(np.exp(R[k][prompt_of == prompt_of[q]]).sum()) for q in range(n_resp)]))
        np.testing.assert_allclose(pol[f"prob_{k}"], expected[rows], rtol=1e-9)
    # pairwise likelihood: the normaliser cancels, so it is Bradley–Terry on the rewards
    ll = O.comparison_loglik_matrix(R, i, j, y)
    w = m.weights_
    labels, post = O.type_posterior(ll, list(ann), w)
    np.testing.assert_allclose(m.responsibilities_.loc[[f"u{g}" for g in labels]].to_numpy(), post, rtol=1e-8, atol=1e-12)
    post_obs = post[[labels.index(g) for g in ann]]
    np.testing.assert_allclose(m.log_likelihood(data, feats), logsumexp(np.log(post_obs) + ll, axis=1), rtol=1e-8)
    joint = O.log_joint(ll, list(ann), w, [m.coef_], prior_scale=1.0)
    assert m.objective_ * len(y) == pytest.approx(joint, rel=1e-9)


def test_dirichlet_prior_enters_the_objective():
    # concentration != 1 and K = 3: the Dirichlet term is neither zero nor a constant of the weights
    data, feats, phi, a, b, y, ann = _mixture_problem(seed=7, n_ann=30, per_ann=5, weights=(0.5, 0.3, 0.2))
    m = mp.MixtureBT(n_types=3, n_restarts=1, concentration=2.5, prior_scale=1.0, dtype="float64").fit(data, feats)
    ll = O.comparison_loglik_matrix(O.linear_rewards(m.coef_, phi), a, b, y)
    joint = O.log_joint(ll, list(ann), m.weights_, [m.coef_], prior_scale=1.0, concentration=2.5)
    assert m.objective_ * len(y) == pytest.approx(joint, rel=1e-9)
    # the fitted weights maximise the reference objective over the simplex (rewards held fixed)
    def neg(logits):
        w = np.exp(np.r_[0.0, logits] - logsumexp(np.r_[0.0, logits]))
        return -O.log_joint(ll, list(ann), w, [m.coef_], prior_scale=1.0, concentration=2.5)

    res = minimize(neg, np.zeros(2), method="BFGS", options={"gtol": 1e-6, "maxiter": 200})
    best = np.exp(np.r_[0.0, res.x] - logsumexp(np.r_[0.0, res.x]))
    np.testing.assert_allclose(m.weights_, best, atol=TOL_COEF)


def test_mixture_of_ranking_annotators_matches_the_reference():
    # annotators who rank 2-4 responses: per-annotator sums of Plackett–Luce terms with padding
    rng = np.random.default_rng(11)
    n_resp, dim = 12, 3
    phi = _embeddings(rng, n_resp, dim)
    W = rng.normal(size=(2, dim)) * 1.5
    W[1] = -W[0]
    rankings, rank_ann = [], []
    for g in range(24):
        t = int(g % 4 == 0)
        for s in range(3):
            length = 2 + (g + s) % 3
            items = rng.choice(n_resp, size=length, replace=False)
            gumbel = -np.log(-np.log(rng.random(length)))
            rankings.append(items[np.argsort(-(phi[items] @ W[t] + gumbel))].tolist())
            rank_ann.append(g)
    data = make_data([0], [1], [1], rankings=rankings, rank_annotator=rank_ann, n_responses=n_resp)
    feats = features_for(data, phi)
    m = mp.MixtureBT(n_types=2, n_restarts=1, prior_scale=1.0, dtype="float64").fit(data, feats)
    ll = O.ranking_loglik_matrix(O.linear_rewards(m.coef_, phi), rankings)
    labels, post = O.type_posterior(ll, rank_ann, m.weights_)
    np.testing.assert_allclose(m.responsibilities_.loc[[f"u{g}" for g in labels]].to_numpy(), post, rtol=1e-8, atol=1e-12)
    joint = O.log_joint(ll, rank_ann, m.weights_, [m.coef_], prior_scale=1.0)
    assert m.objective_ * len(rankings) == pytest.approx(joint, rel=1e-9)


def test_mixture_with_davidson_ties_per_type_matches_the_reference():
    data, feats, phi, a, b, y, ann = _mixture_problem(seed=12, n_ann=30, per_ann=6)
    y = y.copy()
    y[np.random.default_rng(0).random(len(y)) < 0.25] = 0.5
    data = make_data(a, b, y, annotator=ann, n_responses=len(phi))
    m = mp.MixtureBT(n_types=2, n_restarts=1, ties="davidson", prior_scale=1.0, dtype="float64").fit(data, feats)
    nu = np.asarray(m.tie_, dtype=float).ravel()
    assert nu.shape == (2,)
    R = O.linear_rewards(m.coef_, phi)
    ll = O.comparison_loglik_matrix(R, a, b, y, ties="davidson", nu=nu)
    labels, post = O.type_posterior(ll, list(ann), m.weights_)
    np.testing.assert_allclose(m.responsibilities_.loc[[f"u{g}" for g in labels]].to_numpy(), post, rtol=1e-8, atol=1e-12)
    post_obs = post[[labels.index(g) for g in ann]]
    np.testing.assert_allclose(m.log_likelihood(data, feats), logsumexp(np.log(post_obs) + ll, axis=1), rtol=1e-8)
    pa, _, pt = O.davidson_probs(R[:, a], R[:, b], nu[:, None])
    np.testing.assert_allclose(m.predict_proba(data, feats), (post_obs * pa.T).sum(1), rtol=1e-8)
    np.testing.assert_allclose(m.predict_tie_proba(data, feats), (post_obs * pt.T).sum(1), rtol=1e-8)
    joint = O.log_joint(ll, list(ann), m.weights_, [m.coef_], prior_scale=1.0)
    assert m.objective_ * len(y) == pytest.approx(joint, rel=1e-9)

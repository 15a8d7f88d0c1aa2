import numpy as np
import pytest
import torch

import mixpref as mp
from mixpref.models import _engine as E
from mixpref.models._problem import build_problem

from .conftest import features_for, make_data


def _two_prompt_data(seed=0, n=400):
    rng = np.random.default_rng(seed)
    # prompt 0: responses 0..4 (response 4 is never compared); prompt 1: responses 5..9
    prompt_of = np.array([0] * 5 + [1] * 5)
    strength = rng.normal(size=10)
    a, b = [], []
    for _ in range(n):
        p = rng.integers(0, 2)
        pool = np.arange(4) if p == 0 else np.arange(5, 10)
        i, j = rng.choice(pool, size=2, replace=False)
        a.append(i)
        b.append(j)
    a, b = np.array(a), np.array(b)
    y = (rng.random(n) < 1 / (1 + np.exp(-(strength[a] - strength[b])))).astype(float)
    data = make_data(a, b, y, response_prompt=prompt_of, n_responses=10)
    return data, features_for(data, np.eye(10))


def test_pairwise_likelihood_gradient_wrt_log_normalizer_is_exactly_zero():
    data, feats = _two_prompt_data()
    spec = E.Spec(kind="pl", n_types=2, beta=0.7)
    problem = build_problem(data, feats, dtype=torch.float64)
    params = E.init_params(spec, 10, torch.Generator().manual_seed(0), "cpu", torch.float64, scale=1.0)
    r = E.rewards(spec, params, problem.phi)
    logz = E.log_normalizer(spec, r, problem).detach().requires_grad_(True)
    ll = E.comparison_loglik(spec, params, r, problem, logz)
    ll.sum().backward()
    assert logz.grad is not None
    assert torch.equal(logz.grad, torch.zeros_like(logz))
    # and the likelihood is the same as without the normaliser (Bradley–Terry on r)
    torch.testing.assert_close(ll, E.comparison_loglik(spec, params, r, problem, None))


def test_reward_of_uncompared_response_stays_at_prior_but_its_policy_moves():
    data, feats = _two_prompt_data()
    pl = mp.PolicyLikelihood(dtype="float64").fit(data, feats)
    r = pl.rewards(feats)
    unseen = feats.positions(["r4"])[0]
    assert r[unseen] == 0.0  # the prior mean: no comparison moves it
    assert np.abs(r[:4]).min() > 1e-3  # compared responses moved
    pol = pl.policy(data, feats)
    np.testing.assert_allclose(pol.groupby("prompt_id")["prob"].sum(), 1.0)
    p4 = float(pol.loc[pol.response_id == "r4", "prob"].iloc[0])
    # but the normaliser, hence its probability, did move: exactly e^0 / Z(p0), not 1/5
    assert p4 == pytest.approx(1.0 / np.exp(r[:5]).sum(), rel=1e-9) and p4 != pytest.approx(0.2)
    logz = pl.log_normalizer(data, feats)
    assert logz.loc["p0"] == pytest.approx(np.log(np.exp(r[:5]).sum()))


def test_policy_likelihood_pairwise_fit_equals_bt_on_rewards():
    data, feats = _two_prompt_data(seed=1)
    bt = mp.BradleyTerry(dtype="float64").fit(data, feats)
    pl = mp.PolicyLikelihood(beta=1.0, dtype="float64").fit(data, feats)
    np.testing.assert_allclose(pl.rewards(feats), bt.rewards(feats), atol=1e-6)
    np.testing.assert_allclose(pl.predict_proba(data, feats), bt.predict_proba(data, feats), atol=1e-8)


def test_alpha_is_learned_from_reference_logprobs():
    rng = np.random.default_rng(2)
    n_resp = 40
    logp_ref = rng.normal(scale=2.0, size=n_resp)
    a = rng.integers(0, n_resp, size=3000)
    b = (a + rng.integers(1, n_resp, size=3000)) % n_resp
    y = (rng.random(3000) < 1 / (1 + np.exp(-0.8 * (logp_ref[a] - logp_ref[b])))).astype(float)
    data = make_data(a, b, y, n_responses=n_resp)
    feats = features_for(data, rng.normal(size=(n_resp, 3)), logp_ref)
    pl = mp.PolicyLikelihood(prior_scale=0.01).fit(data, feats)
    assert pl.alpha_[0] == pytest.approx(0.8, abs=0.1)
    with pytest.raises(mp.DataError, match="beta"):
        mp.PolicyLikelihood(beta=0).fit(data, feats)


def test_mixture_pl_runs():
    pop = mp.synthetic.population(n_types=2, n_annotators=30, comparisons_per_annotator=30, dim=6,
                                  n_prompts=5, responses_per_prompt=6, random_state=3)
    m = mp.MixturePL(n_types=2, n_restarts=1, beta=0.5).fit(pop.data, pop.features)
    pol = m.policy(pop.data, pop.features)
    assert {"prob_0", "prob_1"} <= set(pol.columns)
    np.testing.assert_allclose(pol.groupby("prompt_id")[["prob_0", "prob_1"]].sum(), 1.0)


def test_learned_alpha_needs_logp_ref_at_prediction():
    # predicting without logp_ref used to drop alpha * logp_ref from every reward silently
    rng = np.random.default_rng(0)
    n_resp = 12
    a = rng.integers(0, n_resp, size=200)
    b = (a + rng.integers(1, n_resp, size=200)) % n_resp
    data = make_data(a, b, (rng.random(200) < 0.5).astype(float), n_responses=n_resp)
    emb = rng.normal(size=(n_resp, 3))
    feats = features_for(data, emb, rng.normal(-5.0, 2.0, size=n_resp))
    pl = mp.PolicyLikelihood().fit(data, feats)
    bare = features_for(data, emb)
    for call in (lambda: pl.rewards(bare), lambda: pl.predict_proba(data, bare), lambda: pl.score(data, bare)):
        with pytest.raises(mp.DataError, match="logp_ref"):
            call()
    # a model fitted without logp_ref (alpha plays no role) predicts without it
    plain = mp.PolicyLikelihood(alpha=1.0).fit(data, bare)
    assert plain.predict_proba(data, bare).shape == (200,)

"""inference="laplace": a Gaussian at the MAP with the exact (or low-rank) curvature, by value.

Oracles: the Bradley–Terry precision written from its formula (``oracles.bt_precision``); a
finite-difference Hessian of the mixture's log posterior; the known truth of synthetic
populations (coverage of 90% credible intervals); a long NUTS run (slow).
"""

import numpy as np
import pytest
import torch

import mixpref as mp
from mixpref.models._problem import build_problem
from mixpref.models.inference import laplace as L

from ..reference import oracles as O
from .conftest import features_for, make_data


@pytest.fixture(scope="module")
def linear_bt():
    rng = np.random.default_rng(0)
    d, n, n_items = 8, 500, 40
    X = rng.normal(size=(n_items, d)) / np.sqrt(d)
    theta = rng.normal(size=d)
    a = rng.integers(0, n_items, size=n)
    b = (a + rng.integers(1, n_items, size=n)) % n_items
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[a] - X[b]) @ theta))).astype(float)
    data = make_data(a, b, y, n_responses=n_items)
    feats = features_for(data, X)
    model = mp.BradleyTerry(dtype="float64", inference="laplace", n_samples=4000).fit(data, feats)
    return X, a, b, data, feats, model


def test_precision_is_the_bradley_terry_formula(linear_bt):
    X, a, b, data, feats, model = linear_bt
    H = O.bt_precision(feats.embeddings, model.coef_, a, b, prior_scale=1.0)
    prob = build_problem(data, feats, dtype=torch.float64, device="cpu")
    layout = L._Layout(model.spec_, model.params_)
    H_model = L.precision_exact(model.spec_, layout, prob).numpy()
    np.testing.assert_allclose(H_model, H, rtol=1e-9, atol=1e-9)
    info = model.laplace_
    assert {k: info[k] for k in ("method", "n_params", "rank", "n_flat")} == {
        "method": "exact", "n_params": 8, "rank": 8, "n_flat": 0}
    assert info["mean_correction"] and info["correction_ess"] > 0.9


def test_draws_have_the_gaussian_moments(linear_bt):
    X, a, b, data, feats, model = linear_bt
    cov = np.linalg.inv(O.bt_precision(feats.embeddings, model.coef_, a, b, prior_scale=1.0))
    draws = model.posterior_samples_["theta"][:, 0].double().numpy()
    sd = np.sqrt(np.diag(cov))
    # the draws are centred at the posterior mean, a fraction of an sd from the MAP (skew)
    shift = draws.mean(0) - model.coef_
    assert np.all(np.abs(shift) < 0.3 * sd) and np.abs(shift).max() > 0.005 * sd.max()
    np.testing.assert_allclose(draws.std(0), sd, rtol=0.05)
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=0.08 * sd.max() ** 2)


def test_draws_reach_sample_rewards_and_the_profile(linear_bt):
    X, a, b, data, feats, model = linear_bt
    draws = model.sample_rewards(30, feats)
    assert draws.shape == (30, X.shape[0])
    # draw s's rewards are phi @ theta_s: the stored parameters, not a recomputation
    stored = model.posterior_samples_["theta"][:, 0].double().numpy()
    all_rewards = stored @ feats.embeddings.astype(np.float64).T  # (4000, n)
    dist = np.abs(draws[:, None, :] - all_rewards[None]).max(axis=2).min(axis=1)
    assert (dist < 1e-5).all()
    prof = model.profile(data, feats)
    assert prof.samples is not None and prof.samples.shape[0] == 4000


def test_mixture_hessian_matches_finite_differences():
    pop = mp.synthetic.population(n_types=2, n_annotators=30, comparisons_per_annotator=20, dim=4, random_state=1)
    m = mp.MixtureBT(n_types=2, n_restarts=1, dtype="float64", inference="laplace", n_samples=50).fit(
        pop.data, pop.features)
    assert m.laplace_["n_params"] == 2 * 4 + 1  # the logits on their one centred direction
    prob = build_problem(pop.data, pop.features, dtype=torch.float64, device="cpu")
    layout = L._Layout(m.spec_, m.params_)
    H = L.precision_exact(m.spec_, layout, prob).numpy()
    f = L._log_density(m.spec_, layout, prob)
    n, h = layout.n, 1e-4

    def F(z):
        return float(f(torch.as_tensor(z)))

    fd = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.eye(n)[i] * h, np.eye(n)[j] * h
            fd[i, j] = fd[j, i] = -(F(ei + ej) - F(ei - ej) - F(ej - ei) + F(-ei - ej)) / (4 * h * h)
    np.testing.assert_allclose(H, fd, atol=1e-4 * np.abs(H).max())
    # chunked observations give the same matrix
    old = L._CHUNK_ENTRIES
    try:
        L._CHUNK_ENTRIES = 200
        np.testing.assert_allclose(L.precision_exact(m.spec_, layout, prob).numpy(), H, rtol=1e-10, atol=1e-10)
    finally:
        L._CHUNK_ENTRIES = old
    # the weights move in the draws (the logits are part of the Gaussian) and rewards keep the type axis
    logits = m.posterior_samples_["logits"]
    assert torch.softmax(logits, dim=1)[:, 0].std() > 0
    assert m.sample_rewards(5, pop.features).shape == (5, 2, 1000)


def _fd_precision(f, n, h=1e-4):
    def F(z):
        return float(f(torch.as_tensor(z)))

    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.eye(n)[i] * h, np.eye(n)[j] * h
            out[i, j] = out[j, i] = -(F(ei + ej) - F(ei - ej) - F(ej - ei) + F(-ei - ej)) / (4 * h * h)
    return out


def test_policy_likelihood_with_ties_and_learned_alpha():
    # every parameter block in one Hessian: theta, Davidson's tie, the learned alpha
    pop = mp.synthetic.population(n_types=1, n_annotators=20, comparisons_per_annotator=20, dim=3, tie_rate=0.2,
                                  random_state=5)
    feats = mp.Features(pop.features.ids, pop.features.embeddings,
                        logp_ref=np.random.default_rng(5).normal(size=len(pop.features.ids)))
    m = mp.PolicyLikelihood(alpha="learn", dtype="float64", inference="laplace", n_samples=20).fit(pop.data, feats)
    assert set(m.posterior_samples_) == {"theta", "tie", "alpha"} and m.laplace_["n_params"] == 5
    prob = build_problem(pop.data, feats, dtype=torch.float64, device="cpu")
    layout = L._Layout(m.spec_, m.params_)
    H = L.precision_exact(m.spec_, layout, prob).numpy()
    np.testing.assert_allclose(H, _fd_precision(L._log_density(m.spec_, layout, prob), layout.n),
                               atol=1e-4 * np.abs(H).max())


def test_low_rank_is_exact_when_the_data_span_few_directions():
    # the data move 6 of 20 coordinates: the precision is the prior's off that span, so 10
    # Lanczos eigenpairs plus the prior reproduce the exact covariance
    rng = np.random.default_rng(1)
    d, n_items, n = 20, 30, 400
    X = np.zeros((n_items, d))
    X[:, :6] = rng.normal(size=(n_items, 6))
    a = rng.integers(0, n_items, size=n)
    b = (a + rng.integers(1, n_items, size=n)) % n_items
    y = (rng.random(n) < 0.5).astype(float)
    data = make_data(a, b, y, n_responses=n_items)
    feats = features_for(data, X)
    m = mp.BradleyTerry(dtype="float64").fit(data, feats)
    prob = build_problem(data, feats, dtype=torch.float64, device="cpu")
    draws, info = L.laplace_draws(m.spec_, prob, m.params_, 20000, exact_max=0, rank=10)
    assert info["method"] == "lowrank"
    cov = np.linalg.inv(O.bt_precision(feats.embeddings, m.coef_, a, b, prior_scale=1.0))
    th = np.stack([p["theta"][0].numpy() for p in draws])
    np.testing.assert_allclose(th.std(0), np.sqrt(np.diag(cov)), rtol=0.04)


def test_flat_prior_gives_no_spread_along_unidentified_directions():
    # one-hot rewards with a flat prior: a common shift is not identified; differences are
    rng = np.random.default_rng(2)
    n_items, n = 5, 300
    a = rng.integers(0, n_items, size=n)
    b = (a + rng.integers(1, n_items, size=n)) % n_items
    y = (rng.random(n) < 0.5).astype(float)
    data = make_data(a, b, y, n_responses=n_items)
    feats = features_for(data, np.eye(n_items))
    m = mp.BradleyTerry(prior_scale=None, dtype="float64", inference="laplace", n_samples=500).fit(data, feats)
    assert m.laplace_["n_flat"] == 1
    draws = m.sample_rewards(500, feats)
    assert np.allclose(draws.mean(1), m.rewards(feats).mean())  # the common shift never moves
    assert (draws[:, 1] - draws[:, 0]).std() > 0.05


def _pair_coverage(draws, truth, n_prompts, per_prompt, level=0.9):
    i, j = np.triu_indices(per_prompt, 1)
    ii = (np.arange(n_prompts)[:, None] * per_prompt + i).ravel()
    jj = (np.arange(n_prompts)[:, None] * per_prompt + j).ravel()
    d = draws[:, ii] - draws[:, jj]
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2], axis=0)
    t = truth[ii] - truth[jj]
    return (t >= lo) & (t <= hi)


def coverage(inference, seeds=(0, 1, 2), **options):
    hits = []
    for seed in seeds:
        pop = mp.synthetic.population(n_types=1, n_annotators=60, comparisons_per_annotator=20, dim=64, n_prompts=20,
                                      responses_per_prompt=10, logit_sd=1.0, random_state=seed)
        m = mp.BradleyTerry(inference=inference, n_samples=400, random_state=seed, **options).fit(pop.data, pop.features)
        hits.append(_pair_coverage(m.sample_rewards(400, pop.features), pop.truth.rewards[0], 20, 10))
    return float(np.concatenate(hits).mean())


def test_laplace_90pct_intervals_cover_the_truth():
    cov = coverage("laplace")
    assert 0.85 <= cov <= 0.95, cov


@pytest.mark.slow
def test_svi_90pct_intervals_cover_the_truth():
    cov = coverage("svi", svi_steps=1000, svi_lr=0.02)
    assert 0.85 <= cov <= 0.95, cov


def _small_problem(seed=0):
    # the acceptance problem: d = 8, 500 comparisons
    pop = mp.synthetic.population(n_types=1, n_annotators=25, comparisons_per_annotator=20, dim=8, n_prompts=20,
                                  responses_per_prompt=10, logit_sd=1.0, random_state=seed)
    assert len(pop.data) == 500
    m = mp.BradleyTerry(dtype="float64", inference="laplace", n_samples=20000, random_state=seed).fit(
        pop.data, pop.features)
    return pop, m


def test_laplace_against_the_importance_weighted_exact_posterior():
    # fast variant of the NUTS check: the exact log posterior (written here in numpy) reweights
    # the Laplace draws; the weighted moments are the exact posterior's (ESS stays > 90%)
    from scipy.special import log_expit

    pop, m = _small_problem()
    arr = pop.data.arrays
    X = pop.features.embeddings.astype(np.float64)[pop.features.positions(pop.data.responses["response_id"])]
    D = X[arr.a] - X[arr.b]
    th = m.posterior_samples_["theta"][:, 0].double().numpy()
    log_post = log_expit((th @ D.T) * np.sign(arr.y - 0.5)).sum(1) - 0.5 * (th ** 2).sum(1)
    cov = np.cov(th.T)
    center = th.mean(0)  # the mean-corrected draws: a Gaussian centred at (an estimate of) the posterior mean
    log_q = -0.5 * np.einsum("ni,ij,nj->n", th - center, np.linalg.inv(cov), th - center)
    w = np.exp(log_post - log_q - (log_post - log_q).max())
    w /= w.sum()
    assert 1 / (w ** 2).sum() > 0.9 * len(w)
    mean = w @ th
    sd = np.sqrt(w @ (th - mean) ** 2)
    np.testing.assert_allclose(th.std(0), sd, rtol=0.05)
    # the MAP is up to ~0.12 sd from the posterior mean here (the logistic posterior's skew);
    # the importance-weighted mean correction brings the draws' mean within 0.05 sd
    assert np.all(np.abs(th.mean(0) - mean) < 0.05 * sd), (th.mean(0) - mean) / sd
    assert np.abs(m.coef_ - mean).max() > 0.05 * sd.min()  # the correction was needed


@pytest.mark.slow
def test_laplace_matches_long_nuts():
    pyro = pytest.importorskip("pyro")
    from pyro.infer import MCMC, NUTS

    from mixpref.models import _engine as E

    pop, m = _small_problem()
    prob = build_problem(pop.data, pop.features, dtype=torch.float64, device="cpu")
    pyro.set_rng_seed(0)
    mcmc = MCMC(NUTS(E.pyro_model(m.spec_, prob)), num_samples=3000, warmup_steps=400)
    mcmc.run()
    ref = mcmc.get_samples()["theta"][:, 0].numpy()
    lap = m.posterior_samples_["theta"][:, 0].numpy()
    sd = ref.std(0)
    assert np.all(np.abs(lap.std(0) / sd - 1) < 0.15), lap.std(0) / sd
    # the tolerance: posterior means within 0.05 sd (the MAP alone is up to 0.12 sd away)
    assert np.all(np.abs(lap.mean(0) - ref.mean(0)) < 0.05 * sd), (lap.mean(0) - ref.mean(0)) / sd


def test_mlp_reward_beyond_the_exact_size_uses_lanczos(monkeypatch):
    # an MLP reward with 40 parameters, the exact limit lowered to 10: the fit takes the
    # low-rank path. Oracle: the top 39 eigenpairs of the exact precision (checked against
    # finite differences above) with the prior's variance on the one direction left out
    pop = mp.synthetic.population(n_types=1, n_annotators=20, comparisons_per_annotator=25, dim=8, random_state=4)
    monkeypatch.setattr(L, "EXACT_MAX", 10)
    m = mp.BradleyTerry(reward="mlp", hidden=4, dtype="float64", inference="laplace", n_samples=6000,
                        max_steps=200).fit(pop.data, pop.features)
    assert m.laplace_ == {"method": "lowrank", "n_params": 40, "rank": 39, "n_flat": 0}
    prob = build_problem(pop.data, pop.features, dtype=torch.float64, device="cpu")
    layout = L._Layout(m.spec_, m.params_)
    lam, U = np.linalg.eigh(L.precision_exact(m.spec_, layout, prob).numpy())
    cov = (U[:, 1:] / lam[1:]) @ U[:, 1:].T + np.outer(U[:, 0], U[:, 0])  # prior scale 1 on the last direction
    flat = np.concatenate([(m.posterior_samples_[k] - m.params_[k]).reshape(6000, -1).double().numpy()
                           for k in layout.names], axis=1)
    np.testing.assert_allclose(flat.std(0), np.sqrt(np.diag(cov)), rtol=0.06)
    assert np.isfinite(m.sample_rewards(5, pop.features)).all()

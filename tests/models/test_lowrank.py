"""LowRankBT: oracles (rank 1 = Bradley–Terry, the MAP objective = Pyro's AutoDelta ELBO,
discrete types recovered at the simplex's corners, continuous persons), shapes, errors."""

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

import mixpref as mp
from mixpref.data.operations import take
from mixpref.data.synthetic_persons import persons
from mixpref.models import _lowrank_engine as L
from mixpref.models._problem import build_problem
from mixpref.models.lowrank import LowRankBT


@pytest.fixture(scope="module")
def pop():
    return mp.synthetic.population(n_types=2, n_annotators=40, comparisons_per_annotator=40, dim=8, random_state=1)


def test_rank_one_simplex_is_bradley_terry(pop):
    lr = LowRankBT(rank=1, weights="simplex", dtype="float64").fit(pop.data, pop.features)
    bt = mp.BradleyTerry(dtype="float64").fit(pop.data, pop.features)
    assert np.abs(lr.rewards(pop.features)[0] - bt.rewards(pop.features)).max() <= 1e-4
    assert np.allclose(lr.annotator_weights_.to_numpy(), 1.0)
    assert lr.score(pop.data, pop.features) == pytest.approx(bt.score(pop.data, pop.features), abs=1e-6)


@pytest.mark.parametrize("weights", ["simplex", "free"])
@pytest.mark.parametrize("kind", ["plain", "ties", "rankings"])
def test_map_objective_equals_pyro_autodelta_elbo(weights, kind):
    extra = {"tie_rate": 0.2} if kind == "ties" else {"ranking_size": 3} if kind == "rankings" else {}
    p = mp.synthetic.population(n_types=2, n_annotators=12, comparisons_per_annotator=8, dim=5, random_state=3, **extra)
    model = LowRankBT(rank=3, weights=weights, concentration=1.7, weight_scale=0.8)
    spec = model._spec(p.data, p.features)
    assert spec.basis.ties == ("davidson" if kind == "ties" else "bt")
    problem = build_problem(p.data, p.features, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    params = {k: torch.randn(s, generator=gen, dtype=torch.float64) for k, s in L.basis_shapes(spec, 5).items()}
    if weights == "simplex":
        params["eta"] = torch.randn((problem.n_groups, 3), generator=gen, dtype=torch.float64)
    else:
        params["u"] = torch.randn((problem.n_groups, 3), generator=gen, dtype=torch.float64)
        params["mu"] = torch.randn(3, generator=gen, dtype=torch.float64)
    ours = float(L.log_joint(spec, params, problem))
    pyro_value = -L.pyro_map_loss(spec, params, problem)
    assert ours == pytest.approx(pyro_value, rel=1e-6)


def test_likelihood_by_hand(pop):
    """One comparison's log-likelihood is log sigmoid(u . (r(a) - r(b))) with the annotator's own weights."""
    m = LowRankBT(rank=2, dtype="float64").fit(pop.data, pop.features)
    arr = pop.data.arrays
    R = m.rewards(pop.features)
    W = m.annotator_weights_.reindex(pop.data.annotators).to_numpy()
    logit = ((R[:, arr.a] - R[:, arr.b]).T * W[arr.annotator]).sum(1)
    expected = -np.log1p(np.exp(-np.where(arr.y == 1, logit, -logit)))
    assert np.allclose(m.log_likelihood(pop.data, pop.features), expected, atol=1e-8)
    assert np.allclose(m.predict_proba(pop.data, pop.features), 1 / (1 + np.exp(-logit)), atol=1e-8)


def test_shapes_and_attributes(pop):
    m = LowRankBT(rank=2).fit(pop.data, pop.features)
    assert m.rewards(pop.features).shape == (2, 1000)
    assert m.annotator_weights_.shape == (40, 2)
    assert list(m.annotator_weights_.index[:2]) == ["a0", "a1"]
    assert np.allclose(m.annotator_weights_.sum(axis=1), 1.0)
    assert m.population_weights_.shape == (2,)
    assert set(m.basis_) == {"theta"}
    assert m.personal_rewards(pop.features).shape == (40, 1000)
    assert m.personal_rewards(pop.features, annotators=["a3"]).shape == (1, 1000)
    free = LowRankBT(rank=2, weights="free").fit(pop.data, pop.features)
    assert free.population_weights_.shape == (2,)
    # new annotators: sequential uses their earlier comparisons, prior does not
    assert m.score(pop.data, pop.features) > -0.69


def test_a_new_annotator_is_predicted_by_the_population(pop):
    train = pop.data.select(annotators=[f"a{i}" for i in range(30)])
    new = pop.data.select(annotators=[f"a{i}" for i in range(30, 40)])
    m = LowRankBT(rank=2).fit(train, pop.features)
    seq = m.score(new, pop.features)
    prior = m.score(new, pop.features, new_annotators="prior")
    # the atoms' mixture at 0 shots, by hand
    atoms = m.params_["atoms"].double().numpy()
    logw = m.params_["atom_logw"].double().numpy()
    R = m.rewards(pop.features)
    arr = new.arrays
    d = (R[:, arr.a] - R[:, arr.b]).T @ atoms.T
    s = np.where(arr.y == 1, 1, -1)[:, None]
    from scipy.special import logsumexp
    assert prior == pytest.approx(np.mean(logsumexp(logw - np.log1p(np.exp(-s * d)), axis=1)), abs=1e-5)
    assert seq > prior  # two types: recognising the type from earlier comparisons pays


@pytest.mark.parametrize("weights", ["simplex", "free"])
def test_save_and_load(pop, tmp_path, weights):
    m = LowRankBT(rank=2, weights=weights).fit(pop.data, pop.features)
    m2 = mp.load_model(m.save(tmp_path / "m"))
    assert type(m2) is LowRankBT and m2.weights == weights
    assert np.allclose(m2.rewards(pop.features), m.rewards(pop.features))
    assert np.allclose(m2.annotator_weights_, m.annotator_weights_)
    assert m2.score(pop.data, pop.features) == pytest.approx(m.score(pop.data, pop.features))


def test_svi_posterior_draws(pop):
    m = LowRankBT(rank=2, inference="svi", svi_steps=50, n_samples=20).fit(pop.data, pop.features)
    draws = m.sample_rewards(5, pop.features)
    assert draws.shape == (5, 2, 1000)
    assert draws.std(axis=0).mean() > 0
    assert m.profile(pop.data, pop.features).samples is not None


@pytest.mark.parametrize("voters", ["population", "annotators", "sample", "basis"])
def test_profiles(pop, voters):
    m = LowRankBT(rank=2).fit(pop.data, pop.features)
    prof = m.profile(pop.data, pop.features, voters=voters, n_voters=7)
    assert prof.n_types == {"population": 40, "annotators": 40, "sample": 7, "basis": 2}[voters]
    if voters == "annotators":
        # voter v's matrix is the Bradley–Terry matrix of annotator v's own reward
        r = m.personal_rewards(pop.features, annotators=["a5"])[0]
        first = pop.data.candidates()
        ids = first[first.prompt_id == "p0"].response_id.to_numpy()
        pos = pop.features.positions(ids)
        expected = 1 / (1 + np.exp(-(r[pos][:, None] - r[pos][None, :])))
        got = prof.matrices[0, 5, : len(ids), : len(ids)]
        assert np.allclose(got, expected, atol=1e-6)


def test_every_rule_works_on_a_low_rank_profile(pop):
    # SVI, so that the rules over posterior draws (quantile) have draws
    m = LowRankBT(rank=2, inference="svi", svi_steps=30, n_samples=10).fit(pop.data, pop.features)
    cand = pop.data.candidates()
    cand = cand[cand.prompt_id.isin(["p0", "p1"])].groupby("prompt_id").head(5)
    prof = m.profile(cand, pop.features, voters="sample", n_voters=9)
    for rule in mp.RULES:
        lottery = mp.aggregate(prof, rule)
        assert np.allclose(np.asarray(lottery.probs).sum(axis=1), 1.0), rule


def test_bad_input():
    p = mp.synthetic.population(n_types=2, n_annotators=4, comparisons_per_annotator=10, dim=6)
    with pytest.raises(mp.DataError, match="rank: got 0"):
        LowRankBT(rank=0).fit(p.data, p.features)
    with pytest.raises(mp.DataError, match=r"rank: got 5, more basis functions than annotators"):
        LowRankBT(rank=5).fit(p.data, p.features)
    with pytest.raises(mp.DataError, match="weights: got 'dense'"):
        LowRankBT(weights="dense").fit(p.data, p.features)
    with pytest.raises(mp.DataError, match="inference: got 'ensemble'"):
        LowRankBT(inference="ensemble").fit(p.data, p.features)
    m = LowRankBT(rank=2).fit(p.data, p.features)
    other = mp.synthetic.population(n_types=2, n_annotators=4, comparisons_per_annotator=10, dim=9)
    with pytest.raises(mp.DataError, match="dimension 9"):
        m.adapt(other.data, other.features)
    with pytest.raises(mp.DataError, match="'nobody' is not known"):
        m.personal_rewards(p.features, annotators=["nobody"])


def test_discrete_types_are_the_corners():
    p = mp.synthetic.population(n_types=3, n_annotators=120, comparisons_per_annotator=100, dim=32, logit_sd=2.0,
                                random_state=0)
    m = LowRankBT(rank=3).fit(p.data, p.features)
    assigned = m.annotator_weights_.to_numpy().argmax(1)
    truth = p.truth.annotator_types.reindex(m.annotators_).to_numpy()
    assert adjusted_rand_score(truth, assigned) >= 0.95


@pytest.mark.slow
def test_discrete_types_are_the_corners_full_size():
    p = mp.synthetic.population(n_types=3, n_annotators=300, comparisons_per_annotator=100, dim=384, logit_sd=2.0,
                                random_state=0)
    m = LowRankBT(rank=3).fit(p.data, p.features)
    truth = p.truth.annotator_types.reindex(m.annotators_).to_numpy()
    assert adjusted_rand_score(truth, m.annotator_weights_.to_numpy().argmax(1)) >= 0.95



def _split(data, seed=0):
    rng = np.random.default_rng(seed)
    ann = data.arrays.annotator
    test = np.zeros(len(ann), dtype=bool)
    for a in np.unique(ann):
        idx = np.flatnonzero(ann == a)
        test[rng.choice(idx, size=len(idx) // 5, replace=False)] = True
    none = np.zeros(0, dtype=int)
    return take(data, np.flatnonzero(~test), none), take(data, np.flatnonzero(test), none)


def _continuous_check(dim, n_annotators, per):
    pop = persons(rank=3, concentration=0.5, dim=dim, n_annotators=n_annotators, comparisons_per_annotator=per,
                  logit_sd=2.0, random_state=0)
    train, test = _split(pop.data)
    m = LowRankBT(rank=3).fit(train, pop.features)
    fitted = m.personal_rewards(pop.features, annotators=pop.truth.annotator_weights.index)
    corr = np.mean([np.corrcoef(f, t)[0, 1] for f, t in zip(fitted, pop.truth.person_rewards)])
    bt = mp.BradleyTerry().fit(train, pop.features).score(test, pop.features)
    best_mix = max(mp.MixtureBT(n_types=k).fit(train, pop.features).score(test, pop.features) for k in (2, 3, 4))
    return corr, m.score(test, pop.features), bt, best_mix


def test_continuous_persons_small():
    corr, ll, bt, mix = _continuous_check(32, 120, 100)
    assert corr >= 0.9
    assert ll > bt and ll > mix


@pytest.mark.slow
def test_continuous_persons_full_size():
    corr, ll, bt, mix = _continuous_check(384, 300, 100)
    assert corr >= 0.9
    assert ll > bt and ll > mix


@pytest.mark.parametrize("kind", ["ties", "rankings", "policy", "observation"])
def test_ties_rankings_policy_and_observation_level(kind):
    from mixpref.models.lowrank import LowRankPL

    extra = {"tie_rate": 0.3} if kind == "ties" else {"ranking_size": 4} if kind == "rankings" else {}
    p = mp.synthetic.population(n_types=2, n_annotators=30, comparisons_per_annotator=30, dim=8, logit_sd=3.0,
                                random_state=5, **extra)
    if kind == "policy":
        feats = p.features.with_logp_ref(np.random.default_rng(0).normal(size=len(p.features)))
        m = LowRankPL(rank=2).fit(p.data, feats)
        assert m.alpha_.shape == (2,)
        bt = mp.PolicyLikelihood().fit(p.data, feats)
        assert m.score(p.data, feats) > bt.score(p.data, feats)
        return
    m = LowRankBT(rank=2, level="observation" if kind == "observation" else "annotator").fit(p.data, p.features)
    bt = mp.BradleyTerry().fit(p.data, p.features)
    if kind == "ties":
        assert m.spec_.ties == "davidson" and m.tie_.shape == (1,)
        assert np.all(m.predict_tie_proba(p.data, p.features) > 0)
    if kind == "observation":
        assert len(m.annotators_) == 0  # every observation its own person: predicted by the population
        assert np.isfinite(m.score(p.data, p.features))
        return
    ll = m.log_likelihood(p.data, p.features)
    assert ll.shape == (len(p.data.arrays) + len(p.data.ranking_arrays),)
    assert m.score(p.data, p.features) > bt.score(p.data, p.features)  # two clear types: persons pay


def test_free_weight_scale_by_empirical_bayes(tmp_path):
    p = mp.synthetic.population(n_types=1, n_annotators=100, comparisons_per_annotator=60, dim=16, logit_sd=1.0,
                                random_state=2)
    train, test = _split(p.data)
    fixed = LowRankBT(rank=3, weights="free", weight_scale=1.0).fit(train, p.features)
    auto = LowRankBT(rank=3, weights="free").fit(train, p.features)
    bt = mp.BradleyTerry().fit(train, p.features)
    # no structure: the persons' prior tightens and the held-out score moves towards one model's
    assert auto.weight_scale_ < 0.5 * fixed.weight_scale_
    assert auto.score(test, p.features) > fixed.score(test, p.features)
    assert auto.score(test, p.features) > bt.score(test, p.features) - 0.01
    loaded = mp.load_model(auto.save(tmp_path / "m"))
    assert loaded.weight_scale_ == pytest.approx(auto.weight_scale_)


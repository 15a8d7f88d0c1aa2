"""model.adapt: new annotators' posteriors in closed form, population frozen (BT, mixtures, LowRankBT)."""

import time

import numpy as np
import pytest
from scipy.special import log_expit, logsumexp

import mixpref as mp
from mixpref.data.operations import take
from mixpref.models.lowrank import LowRankBT


@pytest.fixture(scope="module")
def split():
    pop = mp.synthetic.population(n_types=3, n_annotators=60, comparisons_per_annotator=40, dim=12, logit_sd=2.5,
                                  random_state=4)
    train = pop.data.select(annotators=[f"a{i}" for i in range(50)])
    new = pop.data.select(annotators=[f"a{i}" for i in range(50, 60)])
    return pop, train, new


def _signed_logits(R, data):
    arr = data.arrays
    return ((R[:, arr.a] - R[:, arr.b]) * np.where(arr.y == 1, 1, -1)).T, arr.annotator  # (N, K)


def test_bradley_terry_adapt_is_a_no_op(split):
    pop, train, new = split
    bt = mp.BradleyTerry().fit(train, pop.features)
    adapted = bt.adapt(new, pop.features)
    assert list(adapted.annotators_[-10:]) == [f"a{i}" for i in range(50, 60)]
    assert len(bt.annotators_) == 50  # the original is untouched
    assert np.array_equal(adapted.log_likelihood(new, pop.features), bt.log_likelihood(new, pop.features))


def test_mixture_adapt_is_the_type_posterior(split):
    pop, train, new = split
    m = mp.MixtureBT(n_types=3).fit(train, pop.features)
    adapted = m.adapt(new, pop.features)
    # by hand: prior weights times the product of each annotator's comparison likelihoods
    logits, ann = _signed_logits(m.rewards(pop.features), new)
    gll = np.zeros((len(new.annotators), 3))
    np.add.at(gll, ann, log_expit(logits))
    logp = gll + np.log(m.weights_)
    post = np.exp(logp - logsumexp(logp, axis=1, keepdims=True))
    got = adapted.responsibilities_.loc[list(new.annotators)].to_numpy()
    assert np.allclose(got, post, atol=1e-6)
    # their comparisons are now predicted with that posterior
    ll = adapted.log_likelihood(new, pop.features)
    assert np.allclose(ll, logsumexp(np.log(post[ann]) + log_expit(logits), axis=1), atol=1e-6)


def test_lowrank_adapt_reweights_the_population_atoms(split):
    pop, train, new = split
    m = LowRankBT(rank=3).fit(train, pop.features)
    adapted = m.adapt(new, pop.features)
    atoms = m.params_["atoms"].double().numpy()
    logw = m.params_["atom_logw"].double().numpy()
    logits, ann = _signed_logits(m.rewards(pop.features), new)
    la = log_expit(logits @ atoms.T)  # (N, M)
    gll = np.zeros((len(new.annotators), len(atoms)))
    np.add.at(gll, ann, la)
    logp = gll + logw
    post = np.exp(logp - logsumexp(logp, axis=1, keepdims=True))
    got = adapted.annotator_weights_.loc[list(new.annotators)].to_numpy()
    assert np.allclose(got, post @ atoms, atol=1e-5)
    assert np.allclose(adapted.log_likelihood(new, pop.features), logsumexp(np.log(post[ann] + 1e-300) + la, axis=1),
                       atol=1e-5)
    # population frozen: the basis and the training persons are unchanged
    assert np.array_equal(adapted.rewards(pop.features), m.rewards(pop.features))
    assert np.array_equal(adapted.annotator_weights_.iloc[:50], m.annotator_weights_)


def test_adapting_helps_and_is_fast(split):
    pop, train, new = split
    m = LowRankBT(rank=3).fit(train, pop.features)
    arr = new.arrays
    first = np.concatenate([np.flatnonzero(arr.annotator == a)[:10] for a in range(10)])
    rest = np.setdiff1d(np.arange(len(arr)), first)
    none = np.zeros(0, dtype=int)
    shots, held = take(new, first, none), take(new, rest, none)
    adapted = m.adapt(shots, pop.features)
    assert adapted.score(held, pop.features) > m.score(held, pop.features, new_annotators="prior") + 0.05
    one = take(new, first[:10], none)
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        m.adapt(one, pop.features)
        times.append(time.perf_counter() - t0)
    # the acceptance bound is 10 ms; a loaded CI machine gets some slack
    assert np.median(times) < 0.05


def test_adapt_errors(split):
    pop, train, new = split
    m = LowRankBT(rank=2).fit(train, pop.features)
    other = mp.synthetic.population(n_types=2, n_annotators=5, comparisons_per_annotator=5, dim=7)
    with pytest.raises(mp.DataError, match="dimension 7"):
        m.adapt(other.data, other.features)
    from mixpref.models.adapt import adapt

    with pytest.raises(mp.DataError, match="'a55' has no comparisons"):
        adapt(m, new.select(annotators=["a51"]), pop.features, annotators=["a51", "a55"])
    with pytest.raises(mp.DataError, match="'nobody' has no comparisons"):
        adapt(m, new, pop.features, annotators=["nobody"])

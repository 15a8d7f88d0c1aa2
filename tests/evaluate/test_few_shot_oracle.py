"""The Bayes oracle of few-shot adaptation against hand-written Bayes and numerical quadrature."""

import numpy as np
import pytest
from scipy import integrate, stats

import mixpref as mp
from mixpref.data.synthetic_persons import persons
from mixpref.evaluate.few_shot_oracle import NAME, TRUE_WEIGHTS, Oracle
from mixpref.evaluate.personalization import ADAPTED_ALL, FEW_SHOT, personalization, split


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_discrete_posterior_predictive_by_hand():
    pop = mp.synthetic.population(n_types=2, n_annotators=6, comparisons_per_annotator=12, dim=4, logit_sd=2.0,
                                  random_state=1)
    oracle = Oracle.from_truth(pop.truth, pop.data)
    arr = pop.data.arrays
    mine = np.flatnonzero(arr.annotator == 0)
    adapt, evaluate = mine[:8], mine[8:]
    ll, p = oracle.predict(pop.data, evaluate, adapt)
    R, w = pop.truth.rewards, pop.truth.weights
    # Bayes by hand: type posterior from the 8 answers, then each held-out answer's predictive
    post = np.array([w[k] * np.prod([_sig(R[k, arr.a[i]] - R[k, arr.b[i]]) if arr.y[i] == 1
                                     else _sig(R[k, arr.b[i]] - R[k, arr.a[i]]) for i in adapt]) for k in range(2)])
    post /= post.sum()
    for j, i in enumerate(evaluate):
        q = np.array([_sig(R[k, arr.a[i]] - R[k, arr.b[i]]) for k in range(2)])
        assert p[j] == pytest.approx(post @ q, abs=1e-12)
        assert ll[j] == pytest.approx(np.log(post @ (q if arr.y[i] == 1 else 1 - q)), abs=1e-12)


def test_continuous_posterior_predictive_against_quadrature():
    # rank 2: u = (t, 1 - t), t ~ Beta(c, c); the importance-sampled predictive against quad over t
    pop = persons(rank=2, concentration=0.7, n_annotators=5, comparisons_per_annotator=14, dim=4, logit_sd=2.5,
                  random_state=3)
    oracle = Oracle.from_truth(pop.truth, pop.data, n_atoms=200_000, random_state=0)
    arr = pop.data.arrays
    mine = np.flatnonzero(arr.annotator == 2)
    adapt, evaluate = mine[:10], mine[10:]
    ll, _ = oracle.predict(pop.data, evaluate, adapt)
    R = pop.truth.rewards

    def lik(t, idx):
        r = t * R[0] + (1 - t) * R[1]
        d = r[arr.a[idx]] - r[arr.b[idx]]
        return np.prod(np.where(arr.y[idx] == 1, _sig(d), _sig(-d)))

    prior = stats.beta(0.7, 0.7).pdf
    z = integrate.quad(lambda t: prior(t) * lik(t, adapt), 0, 1, limit=200)[0]
    for j, i in enumerate(evaluate):
        num = integrate.quad(lambda t, i=i: prior(t) * lik(t, adapt) * lik(t, np.array([i])), 0, 1, limit=200)[0]
        assert ll[j] == pytest.approx(np.log(num / z), abs=3e-3)


def test_rows_in_the_personalization_table():
    pop = mp.synthetic.population(n_types=3, n_annotators=40, comparisons_per_annotator=40, dim=8, logit_sd=3.0)
    t = personalization({"bt": mp.BradleyTerry}, pop.data, pop.features, shots=(0, 5, 20),
                        oracle=Oracle.from_truth(pop.truth, pop.data))
    o = t[t.model == NAME].set_index(["split", "shots"]).log_likelihood
    assert set(t[t.model == NAME].split) == {FEW_SHOT, ADAPTED_ALL, TRUE_WEIGHTS}
    # three well separated types: the oracle's curve climbs to (about) knowing the type
    assert o[FEW_SHOT, 0] < o[FEW_SHOT, 5] < o[FEW_SHOT, 20] + 1e-9
    assert o[TRUE_WEIGHTS].iloc[0] == pytest.approx(o[ADAPTED_ALL].iloc[0], abs=0.01)
    # scored on the same held-out comparisons as the models
    assert t[t.split == FEW_SHOT].n.nunique() == 1


def test_split_fixed_number_and_bad_values():
    pop = mp.synthetic.population(n_types=1, n_annotators=20, comparisons_per_annotator=10, dim=4)
    sp = split(pop.data, unseen_annotators=3)
    assert len(sp.unseen) == 3
    assert set(np.unique(pop.data.arrays.annotator[sp.evaluation])) == set(sp.unseen)
    assert len(split(pop.data, unseen_annotators=0.2).unseen) == 4
    for bad in (0, 19, 1.5, True):
        with pytest.raises(mp.DataError, match="unseen_annotators"):
            split(pop.data, unseen_annotators=bad)
    with pytest.raises(mp.DataError, match="truth"):
        Oracle.from_truth(object(), pop.data)

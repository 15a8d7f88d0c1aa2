"""Recovery of known annotator types on synthetic populations (slow: run with ``-m slow``)."""

import numpy as np
import pytest

import mixpref as mp

pytestmark = pytest.mark.slow


def _cos(u, v):
    return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))


def recovery_metrics(seed, logit_sd=2.0, n_restarts=4):
    """Mixture MAP vs the oracle-assignment fit (per-type logistic regression with the true types)."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import adjusted_rand_score

    pop = mp.synthetic.population(n_types=3, weights=(0.5, 0.3, 0.2), dim=384, n_annotators=300,
                                  comparisons_per_annotator=100, logit_sd=logit_sd, random_state=seed)
    train, test = pop.data.split(by="observation", test_size=0.2, random_state=seed)
    model = mp.MixtureBT(n_types=3, n_restarts=n_restarts, random_state=seed).fit(train, pop.features)
    truth = pop.truth
    true_types = truth.annotator_types.loc[model.annotators_].to_numpy()
    ari = adjusted_rand_score(true_types, model.assign().to_numpy())

    phi = pop.features.align(pop.data).embeddings.astype(np.float64)
    tr, te = train.arrays, test.arrays
    ann_type = truth.annotator_types.loc[list(pop.data.annotators)].to_numpy()
    coef_oracle = np.zeros((3, phi.shape[1]))
    for k in range(3):
        rows = ann_type[tr.annotator] == k
        lr = LogisticRegression(fit_intercept=False, C=1.0, max_iter=5000).fit(phi[tr.a[rows]] - phi[tr.b[rows]], tr.y[rows])
        coef_oracle[k] = lr.coef_[0]
    d = np.einsum("nd,nd->n", phi[te.a] - phi[te.b], coef_oracle[ann_type[te.annotator]])
    oracle_ll = float(np.mean(np.where(te.y == 1, -np.logaddexp(0, -d), -np.logaddexp(0, d))))
    ours_ll = model.score(test, pop.features)

    ours = model.coef_
    sim = np.array([[_cos(ours[i], truth.reward_vectors[j]) for j in range(3)] for i in range(3)])
    rows, cols = linear_sum_assignment(-sim)
    ours_cos = np.zeros(3)
    ours_cos[cols] = sim[rows, cols]
    oracle_cos = np.array([_cos(coef_oracle[k], truth.reward_vectors[k]) for k in range(3)])
    return {"ari": ari, "ours_cos": ours_cos, "oracle_cos": oracle_cos, "ours_ll": ours_ll, "oracle_ll": oracle_ll,
            "seconds": model.fit_seconds_}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_three_types(seed):
    m = recovery_metrics(seed)
    assert m["ari"] >= 0.95, m
    assert np.all(m["ours_cos"] >= m["oracle_cos"] - 0.02), m
    assert m["ours_ll"] >= m["oracle_ll"] - 0.01, m


@pytest.mark.parametrize("true_k", [1, 2, 3, 4])
def test_select_n_types_finds_true_k(true_k):
    hits = 0
    seeds = [0, 1, 2]
    for seed in seeds:
        pop = mp.synthetic.population(n_types=true_k, dim=384, n_annotators=300, comparisons_per_annotator=100,
                                      logit_sd=2.0, random_state=100 + seed)
        res = mp.select_n_types(pop.data, pop.features, ks=range(1, true_k + 3), n_restarts=2, refit=False,
                                random_state=seed)
        hits += res.k == true_k
    assert hits / len(seeds) >= 0.8


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_select_n_types_answers_one_at_weak_signal(seed):
    pop = mp.synthetic.population(n_types=3, dim=384, n_annotators=300, comparisons_per_annotator=100,
                                  logit_sd=0.3, random_state=200 + seed)
    res = mp.select_n_types(pop.data, pop.features, ks=range(1, 5), n_restarts=2, refit=False, random_state=seed)
    assert res.k == 1, res

"""The oracles themselves, checked against closed forms and brute-force enumeration."""

import itertools
import math

import numpy as np
import pytest

from . import oracles as O


def test_half_label_likelihood_is_half_a_win_each():
    r = np.array([0.3, -1.1])
    d = r[0] - r[1]
    sig = 1 / (1 + math.exp(-d))
    assert O.bt_half_loglik(r, 0, 1, 1.0) == pytest.approx(math.log(sig), rel=1e-14)
    assert O.bt_half_loglik(r, 0, 1, 0.0) == pytest.approx(math.log(1 - sig), rel=1e-14)
    assert O.bt_half_loglik(r, 0, 1, 0.5) == pytest.approx(0.5 * math.log(sig) + 0.5 * math.log(1 - sig), rel=1e-14)
    # symmetric in the two sides for a tie
    assert O.bt_half_loglik(r, 1, 0, 0.5) == pytest.approx(O.bt_half_loglik(r, 0, 1, 0.5), rel=1e-14)


def test_davidson_probabilities_sum_to_one_and_match_the_log_form():
    r = np.array([0.7, -0.4])
    for nu in (0.05, 1.0, 3.0):
        pa, pb, pt = O.davidson_probs(r[0], r[1], nu)
        assert pa + pb + pt == pytest.approx(1.0, abs=1e-15)
        for y, p in ((1.0, pa), (0.0, pb), (0.5, pt)):
            assert O.davidson_loglik(r, 0, 1, y, nu) == pytest.approx(math.log(p), rel=1e-12)
    # nu -> 0: plain Bradley–Terry
    pa, _, _ = O.davidson_probs(r[0], r[1], 1e-12)
    assert pa == pytest.approx(1 / (1 + math.exp(-(r[0] - r[1]))), rel=1e-9)


def test_plackett_luce_sums_to_one_over_permutations_and_two_items_is_bt():
    rng = np.random.default_rng(0)
    r = rng.normal(size=6)
    for items in ([0, 1], [2, 4, 5], [0, 1, 3, 5]):
        total = sum(math.exp(O.plackett_luce_loglik(r, perm)) for perm in itertools.permutations(items))
        assert total == pytest.approx(1.0, abs=1e-12)
    assert O.plackett_luce_loglik(r, [3, 1]) == pytest.approx(O.bt_half_loglik(r, 3, 1, 1.0), rel=1e-13)
    # the probability of a ranking written as a product of choices
    p = np.exp(r[2]) / np.exp(r[[2, 4, 5]]).sum() * np.exp(r[5]) / np.exp(r[[5, 4]]).sum()
    assert math.exp(O.plackett_luce_loglik(r, [2, 5, 4])) == pytest.approx(p, rel=1e-13)


def test_mixture_marginal_and_posterior_by_enumerating_type_assignments():
    rng = np.random.default_rng(1)
    ll = np.log(rng.uniform(0.1, 0.9, size=(7, 2)))
    groups = ["u", "v", "u", "w", "v", "u", "w"]
    w = np.array([0.7, 0.3])
    labels = ["u", "v", "w"]
    # brute force: sum over all K^G joint type assignments
    total = 0.0
    post = np.zeros((3, 2))
    for z in itertools.product(range(2), repeat=3):
        p = 1.0
        for g, label in enumerate(labels):
            p *= w[z[g]] * np.prod([math.exp(ll[i, z[g]]) for i, x in enumerate(groups) if x == label])
        total += p
        for g in range(3):
            post[g, z[g]] += p
    assert O.mixture_log_marginal(ll, groups, w) == pytest.approx(math.log(total), rel=1e-12)
    got_labels, got = O.type_posterior(ll, groups, w)
    assert got_labels == labels
    np.testing.assert_allclose(got, post / total, rtol=1e-12)
    # the prequential terms of a group add up to its marginal
    seq = O.sequential_loglik(ll, groups, w)
    assert seq.sum() == pytest.approx(math.log(total), rel=1e-12)


def test_priors_match_their_closed_forms():
    w = np.array([0.5, 0.3, 0.2])
    for c in (1.0, 2.5):
        closed = math.lgamma(3 * c) - 3 * math.lgamma(c) + (c - 1) * np.log(w).sum()
        assert O.dirichlet_log_prior(w, c) == pytest.approx(closed, rel=1e-12)
    theta = np.array([[0.4, -1.0], [2.0, 0.1]])
    closed = -0.5 * (theta**2).sum() / 4.0 - theta.size * (math.log(2.0) + 0.5 * math.log(2 * math.pi))
    assert O.normal_log_prior(theta, 2.0) == pytest.approx(closed, rel=1e-12)


def test_gelu_is_x_times_the_normal_cdf():
    from scipy.stats import norm

    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(O.gelu(x), x * norm.cdf(x), rtol=1e-12, atol=1e-15)


def test_vectorised_comparison_matrix_equals_the_scalar_formulas():
    rng = np.random.default_rng(2)
    R = rng.normal(size=(3, 7))
    a = rng.integers(0, 7, size=20)
    b = (a + rng.integers(1, 7, size=20)) % 7
    y = rng.choice([0.0, 0.5, 1.0], size=20)
    nu = np.array([0.3, 1.0, 2.0])
    half = O.comparison_loglik_matrix(R, a, b, y, ties="half")
    dav = O.comparison_loglik_matrix(R, a, b, y, ties="davidson", nu=nu)
    for i in range(20):
        for k in range(3):
            assert half[i, k] == pytest.approx(O.bt_half_loglik(R[k], a[i], b[i], y[i]), rel=1e-13)
            assert dav[i, k] == pytest.approx(O.davidson_loglik(R[k], a[i], b[i], y[i], nu[k]), rel=1e-13)

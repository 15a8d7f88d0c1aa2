"""Reference implementations written from the formulas (plain numpy/scipy, float64, loops).

Nothing here imports mixpref: these functions are the oracle the model tests compare the
library's numbers with, so a bug in the library's likelihood engine cannot cancel out.
They favour the textbook form over speed (explicit loops over observations and types).

Conventions: rewards ``r`` are a (n_responses,) vector for one type or (K, n_responses) for
K types; a comparison is (a, b, y) with y = 1 (a wins), 0 (b wins) or 0.5 (tie); a ranking
is a list of response indices, best first, of any length >= 2.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import erf, logsumexp


def log_sigmoid(x):
    """log(1 / (1 + e^{-x})), stable for large |x|."""
    return -np.logaddexp(0.0, -np.asarray(x, dtype=np.float64))


# ---------------------------------------------------------------- rewards
def linear_rewards(theta, phi):
    """r = theta . phi for each type: (K, n) from theta (K, d) (or (n,) from (d,))."""
    return np.asarray(theta, dtype=np.float64) @ np.asarray(phi, dtype=np.float64).T


def gelu(x):
    """The exact (erf) GELU: x * Phi(x)."""
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def mlp_rewards(w1, b1, w2, phi):
    """One hidden layer per type: r_k(x) = w2_k . gelu(x W1_k + b1_k); w1 (K, d, h), b1 (K, h), w2 (K, h)."""
    phi = np.asarray(phi, dtype=np.float64)
    w1, b1, w2 = (np.asarray(v, dtype=np.float64) for v in (w1, b1, w2))
    out = np.zeros((w1.shape[0], phi.shape[0]))
    for k in range(w1.shape[0]):
        out[k] = gelu(phi @ w1[k] + b1[k]) @ w2[k]
    return out


# ---------------------------------------------------------------- one observation, one type
def bt_half_loglik(r, a, b, y):
    """Bradley–Terry with a tie as half a win each: y log sigma(d) + (1 - y) log sigma(-d), d = r_a - r_b."""
    d = r[a] - r[b]
    return y * log_sigmoid(d) + (1.0 - y) * log_sigmoid(-d)


def davidson_probs(r_a, r_b, nu):
    """Davidson (1970): P(a), P(b), P(tie) proportional to pi_a, pi_b, nu sqrt(pi_a pi_b), pi = e^r."""
    pa, pb = np.exp(r_a), np.exp(r_b)
    tie = nu * np.sqrt(pa * pb)
    z = pa + pb + tie
    return pa / z, pb / z, tie / z


def davidson_loglik(r, a, b, y, nu):
    """log of the Davidson probability of the observed outcome (computed in log space)."""
    ra, rb = r[a], r[b]
    log_z = logsumexp([ra, rb, np.log(nu) + 0.5 * (ra + rb)])
    if y == 1.0:
        return ra - log_z
    if y == 0.0:
        return rb - log_z
    if y == 0.5:
        return np.log(nu) + 0.5 * (ra + rb) - log_z
    raise ValueError(f"label {y!r}")


def plackett_luce_loglik(r, ranking):
    """Plackett–Luce: sum over positions t of r[i_t] - log sum_{s >= t} e^{r[i_s]} (only the listed items)."""
    ranking = [int(i) for i in ranking]
    total = 0.0
    for t in range(len(ranking) - 1):  # the last position contributes log 1
        rest = [r[i] for i in ranking[t:]]
        total += r[ranking[t]] - logsumexp(rest)
    return total


# ---------------------------------------------------------------- observation x type matrices
def comparison_loglik_matrix(R, a, b, y, ties="half", nu=None):
    """(n, K) log-likelihood of each comparison under each type's rewards R (K, n_responses).

    The same formulas as :func:`bt_half_loglik` and :func:`davidson_loglik`, over all
    observations at once (the scalar versions check this one in test_oracles.py).
    """
    R = np.atleast_2d(np.asarray(R, dtype=np.float64))
    a, b, y = np.asarray(a), np.asarray(b), np.asarray(y, dtype=np.float64)[:, None]
    ra, rb = R[:, a].T, R[:, b].T  # (n, K)
    if ties == "half":
        return y * log_sigmoid(ra - rb) + (1.0 - y) * log_sigmoid(rb - ra)
    if ties != "davidson":
        raise ValueError(ties)
    log_nu = np.log(np.broadcast_to(np.asarray(nu, dtype=np.float64), (R.shape[0],)))[None, :]
    log_tie = log_nu + 0.5 * (ra + rb)
    log_z = logsumexp(np.stack([ra, rb, np.broadcast_to(log_tie, ra.shape)]), axis=0)
    if not np.isin(y, (0.0, 0.5, 1.0)).all():
        raise ValueError("labels must be 0, 0.5 or 1")
    return np.where(y == 1.0, ra, np.where(y == 0.0, rb, log_tie)) - log_z


def ranking_loglik_matrix(R, rankings):
    """(n_rankings, K) Plackett–Luce log-likelihoods; ``rankings`` is a ragged list of lists."""
    R = np.atleast_2d(np.asarray(R, dtype=np.float64))
    return np.array([[plackett_luce_loglik(R[k], rk) for k in range(R.shape[0])] for rk in rankings])


# ---------------------------------------------------------------- mixtures
def group_sums(ll, groups):
    """(G, K) per-group sums of the (n, K) observation log-likelihoods; groups are labels (any hashable).

    Returns (labels, sums) with labels in order of first appearance.
    """
    labels = list(dict.fromkeys(groups))
    row = {label: g for g, label in enumerate(labels)}
    out = np.zeros((len(labels), ll.shape[1]))
    for i, label in enumerate(groups):
        out[row[label]] += ll[i]
    return labels, out


def mixture_log_marginal(ll, groups, weights):
    """sum over groups of log sum_k w_k prod_{i in group} p_k(obs_i) (the type summed out exactly)."""
    _, gll = group_sums(ll, groups)
    logw = np.log(np.asarray(weights, dtype=np.float64))
    return float(logsumexp(logw[None, :] + gll, axis=1).sum())


def type_posterior(ll, groups, weights):
    """Each group's posterior over types: w_k prod_i p_k(obs_i) / sum_j w_j prod_i p_j(obs_i).

    Returns (labels, (G, K) array) with labels in order of first appearance.
    """
    labels, gll = group_sums(ll, groups)
    logw = np.log(np.asarray(weights, dtype=np.float64))
    post = np.zeros_like(gll)
    for g in range(len(labels)):
        joint = logw + gll[g]
        post[g] = np.exp(joint - logsumexp(joint))
    return labels, post


def sequential_loglik(ll, groups, weights):
    """Prequential log p(obs_t | the same group's earlier observations), each observation in data order."""
    logw = np.log(np.asarray(weights, dtype=np.float64))
    seen = {}
    out = np.zeros(len(ll))
    for i, g in enumerate(groups):
        before = seen.get(g, np.zeros(ll.shape[1]))
        out[i] = logsumexp(logw + before + ll[i]) - logsumexp(logw + before)
        seen[g] = before + ll[i]
    return out


# ---------------------------------------------------------------- priors
def normal_log_prior(values, scale):
    """sum of log N(v; 0, scale^2) over every entry (scipy.stats)."""
    return float(stats.norm(0.0, scale).logpdf(np.ravel(np.asarray(values, dtype=np.float64))).sum())


def dirichlet_log_prior(weights, concentration):
    """log Dirichlet(w; concentration * 1_K) density (scipy.stats)."""
    w = np.asarray(weights, dtype=np.float64)
    return float(stats.dirichlet(np.full(len(w), float(concentration))).logpdf(w))


def log_joint(ll, groups, weights, reward_params, prior_scale, concentration=1.0):
    """The MAP objective: Normal prior on reward parameters + Dirichlet prior on weights (K > 1) + marginal."""
    total = mixture_log_marginal(ll, groups, weights)
    if prior_scale is not None:
        total += sum(normal_log_prior(p, prior_scale) for p in reward_params)
    if len(np.atleast_1d(weights)) > 1:
        total += dirichlet_log_prior(weights, concentration)
    return total


# ---------------------------------------------------------------- social choice (one prompt)
def pooled_matrix(mats, weights):
    """P̄(i beats j) = sum_k w_k P_k(i beats j); mats (K, M, M)."""
    return np.einsum("k,kij->ij", np.asarray(weights, dtype=np.float64), np.asarray(mats, dtype=np.float64))


def borda_scores(mats, weights):
    """Borda with ties as half a win: score_i = sum_{j != i} (1 + P̄_ij - P̄_ji) / 2."""
    P = pooled_matrix(mats, weights)
    m = P.shape[0]
    return np.array([sum(0.5 * (1 + P[i, j] - P[j, i]) for j in range(m) if j != i) for i in range(m)])


def majority_margin(mats, weights):
    """margin_ij = (weight of types with P_k(i>j) > P_k(j>i)) - (weight of types with the reverse).

    A type counts whenever its preference is strict, however weak.
    """
    mats = np.asarray(mats, dtype=np.float64)
    m = mats.shape[1]
    out = np.zeros((m, m))
    for k, w in enumerate(weights):
        for i in range(m):
            for j in range(m):
                if i != j and mats[k, i, j] != mats[k, j, i]:
                    out[i, j] += w if mats[k, i, j] > mats[k, j, i] else -w
    return out


def bt_precision(phi, theta, a, b, prior_scale=None):
    """Negative Hessian of the Bradley–Terry log posterior in theta (linear reward, Normal prior).

    sum_i p_i (1 - p_i) x_i x_i^T + I / s^2 with x_i = phi_a - phi_b, p_i = sigma(theta . x_i);
    the label does not enter (the same for half labels). Its inverse is the Laplace covariance.
    """
    x = np.asarray(phi, dtype=np.float64)[a] - np.asarray(phi, dtype=np.float64)[b]
    p = 1 / (1 + np.exp(-(x @ np.asarray(theta, dtype=np.float64))))
    H = (x * (p * (1 - p))[:, None]).T @ x
    if prior_scale is not None:
        H += np.eye(x.shape[1]) / prior_scale**2
    return H

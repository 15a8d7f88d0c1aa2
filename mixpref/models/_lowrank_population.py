"""The population of a low-rank person model: weight atoms and their prior mass (empirical Bayes).

A new person's prior is a distribution over weight vectors. Its support is the training
persons' fitted weights (or a sample of them, the "atoms"); its mass is the nonparametric
maximum likelihood estimate (NPMLE, Kiefer & Wolfowitz 1956) of the mixing distribution on
that fixed grid: ``w = argmax sum_a log sum_m w_m p(D_a | u_m)``, found by EM (a convex
problem; Koenker & Mizera 2014 use it for empirical Bayes rules). Equal mass on every fitted
person instead is the distribution of the persons' *estimates*, the truth blurred by each
estimate's noise: too wide a prior, so a new person's first answers are explained by atoms
that no real person is near. Measured on the personalisation study's populations (300
annotators, 100 comparisons each, d = 128, the study's split), 10-shot held-out LL of new
annotators with NPMLE mass instead of equal mass: three discrete types at logit sd 3,
simplex +0.013, free +0.003 nats; Dirichlet(0.5) persons at sd 3, simplex +0.005, free
+0.001. It costs the simplex model's zero-shot LL on the continuous population 0.004.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _lowrank_engine as L


def group_atom_loglik(lr: L.LowRankSpec, params: dict, problem, atoms: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """(n_groups, M) log-likelihood of each group's observations under each atom (float64).

    The basis reward differences are formed once; chunks of 8,192 observations keep the
    (chunk, M) temporaries in cache (measured at 160k observations x 256 atoms: 0.12 s
    against 0.50 s with chunks of 65,536, same values). Sums run in the problem's dtype: a
    group's few hundred terms lose nothing that matters to the prior's mass in float32, and
    converting every chunk to float64 cost a quarter of the time.
    """
    n, nc = problem.n_obs, problem.n_comparisons
    out = torch.zeros((problem.n_groups, atoms.shape[0]), dtype=atoms.dtype, device=atoms.device)
    with torch.no_grad():
        D, S = L.reward_parts(lr, params, problem)
        for start in range(0, n, chunk):
            idx = np.arange(start, min(n, start + chunk))
            sub = problem if (start == 0 and n <= chunk) else problem.take(idx)
            rows = torch.as_tensor(idx[idx < nc], device=D.device)
            slots = None if S is None else S[torch.as_tensor(idx[idx >= nc] - nc, device=S.device)]
            out.index_add_(0, sub.group, L.obs_loglik_atoms(lr, params, sub, atoms, parts=(D[rows], slots)))
    return out.double()


def npmle_log_weights(group_loglik: torch.Tensor, max_iter: int = 1000, tol: float = 1e-8) -> torch.Tensor:
    """(M,) log mass of the atoms maximising ``sum_g log sum_m w_m exp(group_loglik[g, m])`` (EM).

    EM's fixed point ``w_m <- w_m mean_g L_gm / (L w)_g`` never leaves the simplex and raises
    the likelihood at every step. Each row of ``L`` is scaled by its maximum (which cancels
    in the update), so a step is two matrix-vector products, not a logsumexp over the (G, M)
    matrix (measured: 35x faster at G = 2000, M = 256). It stops when the mean
    log-likelihood per group changes by less than ``tol`` nats.
    """
    G, M = group_loglik.shape
    top = group_loglik.max(dim=1, keepdim=True).values
    L = torch.exp(group_loglik - top)
    w = torch.full((M,), 1.0 / M, dtype=L.dtype, device=L.device)
    last = -math.inf
    for _ in range(int(max_iter)):
        mix = L @ w
        value = float(torch.log(mix).mean())
        w = w * (L.T @ (1.0 / mix)) / G
        if value - last < tol:
            break
        last = value
    return torch.log(w / w.sum())

"""The design bound of the active-learning study against a generic optimiser on a tiny problem."""

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import softmax

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies" / "lib"))
from optimal_design import optimal_design_ratio


def _criterion(w, dx, info, types, F):
    total = 0.0
    for k in range(len(F)):
        M = (w * info * (types == k))[:, None, None] * np.einsum("ni,nj->nij", dx, dx)
        total += np.trace(F[k] @ np.linalg.inv(M.sum(0) + 1e-12 * np.eye(dx.shape[1])))
    return total


def test_multiplicative_algorithm_finds_the_i_optimal_design():
    rng = np.random.default_rng(0)
    n, d = 24, 2
    # anisotropic candidates: a few long differences, many short ones
    dx = rng.standard_normal((n, d)) * rng.choice([0.3, 2.0], size=(n, 1), p=[0.7, 0.3])
    info = rng.uniform(0.05, 0.25, n)
    types = np.arange(n) % 2
    dxt, infot, typest = rng.standard_normal((40, d)), rng.uniform(0.05, 0.25, 40), np.arange(40) % 2
    F = [np.einsum("n,ni,nj->ij", infot * (typest == k), dxt, dxt) / 40 for k in range(2)]
    ratio, gap = optimal_design_ratio(dx, info, types, dxt, infot, typest, tol=1e-6)
    uniform = _criterion(np.full(n, 1.0 / n), dx, info, types, F)
    best = min(minimize(lambda z: _criterion(softmax(z), dx, info, types, F), rng.normal(size=n), method="BFGS").fun
               for _ in range(5))
    assert ratio == pytest.approx(best / uniform, rel=1e-4)
    assert ratio * (1 - gap) <= best / uniform + 1e-12  # the certified lower bound is one
    assert 0 < ratio < 1  # anisotropic candidates: choosing pays


def test_with_identical_candidates_the_uniform_design_is_optimal():
    dx = np.tile(np.eye(2), (5, 1))
    info = np.full(10, 0.2)
    types = np.zeros(10, dtype=int)
    ratio, gap = optimal_design_ratio(dx, info, types, dx, info, types)
    assert ratio == pytest.approx(1.0, abs=1e-9) and gap < 1e-9

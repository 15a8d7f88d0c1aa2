"""Fresh-response data (every comparison with two new responses) and its mixture marginal,
shared by the engine, streaming, design-cache, SVI and distributed tests."""

import numpy as np
import pandas as pd
import pytest
import torch

import mixpref as mp
from mixpref.data.arrays import ComparisonArrays
from mixpref.models import _engine as E
from tests.reference import oracles


def fresh_data(n=300, dim=6, n_ann=12, seed=0):
    """Every comparison with two new responses; labels from two annotator types."""
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((2 * n, dim))
    types = rng.integers(0, 2, n_ann)
    v = rng.standard_normal((2, dim)) * 1.5
    ann = rng.integers(0, n_ann, n)
    a, b = np.arange(0, 2 * n, 2), np.arange(1, 2 * n, 2)
    logit = ((emb[a] - emb[b]) * v[types[ann]]).sum(1)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    prompts = pd.DataFrame({"prompt_id": np.arange(n), "text": None})
    responses = pd.DataFrame({"response_id": np.arange(2 * n), "prompt_id": np.repeat(np.arange(n), 2), "text": None})
    data = mp.PreferenceData(prompts, responses, pd.Index(np.arange(n_ann)),
                             ComparisonArrays(np.arange(n), a, b, y, ann))
    return data, mp.Features(np.arange(2 * n), emb)


def oracle_marginal(theta, logits, data, emb):
    """float64 numpy: sum over annotators of logsumexp_k(log w_k + their comparisons' log-likelihood),
    composed from the independent references in tests/reference/oracles.py."""
    arr = data.arrays
    ll = oracles.comparison_loglik_matrix(oracles.linear_rewards(theta, emb), arr.a, arr.b, arr.y)
    weights = np.exp(np.asarray(logits, dtype=np.float64))
    return oracles.mixture_log_marginal(ll, arr.annotator, weights / weights.sum())


def assert_oracle_value_and_gradient(problem, data, feats, coord, eps=1e-6):
    """The engine's 2-type log joint (no prior) on ``problem`` equals the oracle marginal (rel 1e-12)
    and its gradient in ``theta[coord]`` a finite difference of the oracle (rel 1e-4)."""
    spec = E.Spec(n_types=2, prior_scale=None)
    rng = np.random.default_rng(1)
    theta, logits = rng.standard_normal((2, feats.embeddings.shape[1])), np.array([0.3, -0.2])
    params = {"theta": torch.tensor(theta, requires_grad=True), "logits": torch.tensor(logits, requires_grad=True)}
    value = E.log_joint(spec, params, problem)
    assert float(value.detach()) == pytest.approx(oracle_marginal(theta, logits, data, feats.embeddings), rel=1e-12)
    value.backward()
    bumped = theta.copy()
    bumped[coord] += eps
    numeric = (oracle_marginal(bumped, logits, data, feats.embeddings)
               - oracle_marginal(theta, logits, data, feats.embeddings)) / eps
    assert float(params["theta"].grad[coord]) == pytest.approx(numeric, rel=1e-4)

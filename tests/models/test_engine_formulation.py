"""The engine's formulations (gather vs difference matrix, streamed vs in memory) against independent oracles."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import mixpref as mp
from mixpref.models import _engine as E
from mixpref.models._problem import build_problem
from mixpref.models.inference.linear_lbfgs import LinearObjective, maximize
from tests.models._fresh import assert_oracle_value_and_gradient, fresh_data


def test_auto_picks_difference_matrix_for_fresh_and_gather_for_shared_responses():
    data, feats = fresh_data()
    assert build_problem(data, feats).formulation == "diff"
    pop = mp.synthetic.population(n_types=2, n_annotators=20, comparisons_per_annotator=30, dim=4, n_prompts=3,
                                  responses_per_prompt=5)
    assert build_problem(pop.data, pop.features).formulation == "gather"
    ranked = mp.synthetic.population(n_types=1, n_annotators=5, comparisons_per_annotator=4, dim=4, ranking_size=3)
    assert build_problem(ranked.data, ranked.features).formulation == "gather"
    with pytest.raises(mp.DataError, match="rankings"):
        build_problem(ranked.data, ranked.features, formulation="diff")


@pytest.mark.parametrize("formulation,stream", [("diff", None), ("gather", None), ("diff", 1000), ("gather", 1000)])
def test_every_formulation_computes_the_oracle_marginal_and_the_same_gradient(formulation, stream):
    data, feats = fresh_data()
    problem = build_problem(data, feats, dtype=torch.float64, formulation=formulation, stream_bytes=stream)
    assert problem.streamed == (stream is not None)
    # the value, and the gradient in one coordinate against the oracle's finite difference
    assert_oracle_value_and_gradient(problem, data, feats, (1, 2))


def test_linear_lbfgs_reaches_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    data, feats = fresh_data(n=400)
    spec = E.Spec(n_types=1, prior_scale=1.0)
    problem = build_problem(data, feats, dtype=torch.float64)
    n = problem.n_obs
    objective = LinearObjective(spec, problem, n, lambda p, z: E.log_marginal(spec, p, problem, z))
    params, value, iters = maximize(objective, {"theta": torch.zeros(1, 6, dtype=torch.float64)}, max_iter=200)
    arr = data.arrays
    emb = feats.embeddings.astype(np.float64)
    x = emb[arr.a] - emb[arr.b]
    ref = LogisticRegression(fit_intercept=False, C=1.0, tol=1e-12, max_iter=10_000).fit(x, arr.y).coef_[0]
    np.testing.assert_allclose(params["theta"][0].numpy(), ref, atol=1e-5)
    assert value == pytest.approx(float(E.log_joint(spec, params, problem)) / n, rel=1e-12)
    assert 0 < iters < 200


def test_streamed_fit_equals_in_memory_fit():
    data, feats = fresh_data(n=600, dim=64, n_ann=30)
    # the difference matrix (600 x 64 float64: 307 kB) exceeds a 200 kB budget: streamed, not minibatched
    assert build_problem(data, feats, dtype=torch.float64, stream_bytes=200_000).streamed
    full = mp.MixtureBT(n_types=2, dtype="float64", n_restarts=2).fit(data, feats)
    streamed = mp.MixtureBT(n_types=2, dtype="float64", n_restarts=2, memory_budget=200_000).fit(data, feats)
    assert streamed.objective_ == pytest.approx(full.objective_, rel=1e-9)
    np.testing.assert_allclose(streamed.coef_, full.coef_, atol=1e-6)


def test_budget_smaller_than_one_block_is_a_clear_error():
    data, feats = fresh_data()
    with pytest.raises(mp.DataError, match="memory_budget.*smaller than one block"):
        mp.MixtureBT(n_types=2, memory_budget=1000).fit(data, feats)


def test_fit_imports_neither_sklearn_nor_dynamo():
    code = textwrap.dedent("""
        import sys
        import mixpref as mp
        pop = mp.synthetic.population(n_types=2, n_annotators=20, comparisons_per_annotator=20, dim=4)
        mp.MixtureBT(n_types=2).fit(pop.data, pop.features)
        print(sorted(m for m in ("sklearn", "torch._dynamo") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

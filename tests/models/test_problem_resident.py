"""A design matrix a little larger than the budget: a leading run of rows resident, the rest streamed."""

import numpy as np
import pytest
import torch

import mixpref as mp
from mixpref.models._problem import build_problem
from mixpref.models._rows import RowSource
from tests.models._fresh import assert_oracle_value_and_gradient, fresh_data


def test_partly_resident_rows_are_the_difference_rows():
    store = np.arange(40, dtype=np.float32).reshape(20, 2)
    ia, ib = np.arange(0, 20, 2), np.arange(1, 20, 2)
    src = RowSource(store, ia, ib, block_rows=3).keep_resident(4)
    assert src.n_resident == 4
    # every row (resident or streamed) is store[a] - store[b] = (-2, -2), and ranges() covers each row once
    covered = np.concatenate([np.arange(lo, hi) for lo, hi in src.ranges()])
    np.testing.assert_array_equal(covered, np.arange(10))
    assert all(hi <= 4 or lo >= 4 for lo, hi in src.ranges())  # no block straddles the resident part
    np.testing.assert_array_equal(src.materialize().numpy(), np.full((10, 2), -2.0))
    np.testing.assert_array_equal(src.block(2, 7).numpy(), np.full((5, 2), -2.0))  # a straddling block still works


def test_budget_below_the_matrix_keeps_part_resident_and_computes_the_oracle_marginal():
    data, feats = fresh_data(n=300, dim=6)
    x_bytes = 300 * 6 * 8
    # 10,800 bytes of budget: block_rows = 10,800 // (8 * 48) = 28 rows; two blocks 2,688 bytes; the rest resident
    problem = build_problem(data, feats, dtype=torch.float64, stream_bytes=0.75 * x_bytes)
    x = problem.diff
    assert isinstance(x, RowSource) and problem.streamed
    assert 0 < x.n_resident < 300
    assert x.n_resident == (10_800 - 2 * 28 * 48) // 48 == 169
    assert_oracle_value_and_gradient(problem, data, feats, (0, 4))


def test_working_bytes_leave_less_resident():
    data, feats = fresh_data(n=300, dim=6)
    budget = 0.75 * 300 * 6 * 8
    problem = build_problem(data, feats, dtype=torch.float64, stream_bytes=budget)
    problem.working_bytes = budget  # nothing left for resident rows
    assert problem.diff.n_resident == 0


def test_partly_resident_fit_equals_in_memory_fit():
    data, feats = fresh_data(n=600, dim=64, n_ann=30)
    full = mp.MixtureBT(n_types=2, dtype="float64", n_restarts=2).fit(data, feats)
    # X is 600 x 64 float64 = 307 kB; the working set 16 x 600 x 2 x 8 = 154 kB; 450 kB leaves part of X resident
    part = mp.MixtureBT(n_types=2, dtype="float64", n_restarts=2, memory_budget=450_000).fit(data, feats)
    assert part.objective_ == pytest.approx(full.objective_, rel=1e-9)
    np.testing.assert_allclose(part.coef_, full.coef_, atol=1e-6)


@pytest.mark.parametrize("budget,resident", [(140_000, "part"), (100_000, "none")])
def test_laplace_on_a_streamed_matrix_equals_in_memory(budget, resident):
    # Laplace takes torch.func.hessian through the streamed product, on a float64 view of the
    # problem (the resident rows must follow its dtype); both failed before this test
    data, feats = fresh_data(n=600, dim=64, n_ann=30)
    kw = {"n_types": 2, "n_restarts": 1, "inference": "laplace", "n_samples": 20}
    # X: 600 x 64 float32 = 154 kB; working set 16 x 600 x 2 x 4 = 77 kB; 140 kB keeps part of X
    # resident, 100 kB none of it
    problem = build_problem(data, feats, stream_bytes=budget)
    problem.working_bytes = 16 * 600 * 2 * 4
    n = problem.diff.n_resident
    assert (0 < n < 600) if resident == "part" else n == 0
    full = mp.MixtureBT(**kw).fit(data, feats)
    part = mp.MixtureBT(memory_budget=budget, **kw).fit(data, feats)
    assert part.objective_ == pytest.approx(full.objective_, rel=1e-6)
    for name, draws in full.posterior_samples_.items():
        np.testing.assert_allclose(part.posterior_samples_[name].numpy(), draws.numpy(), atol=1e-4, err_msg=name)

"""Minibatch sizing under a memory budget, by hand (written to kill mutmut survivors;
tests/MUTATION.md). About 16 live (n_obs, K) tensors must fit: 16 * K * bytes per value."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mixpref.errors import DataError
from mixpref.models.inference.batching import batch_groups


def _problem(dtype):
    return SimpleNamespace(n_groups=10, stream_bytes=None, formulation="gather", phi=None, dtype=dtype,
                           group_size=np.full(10, 5), dim=3, n_obs=50)


def test_annotators_per_minibatch_float32_and_float64():
    spec = SimpleNamespace(n_types=2)
    # float32: 50 obs x 16 x 2 types x 4 bytes = 6,400 bytes; a 3,200-byte budget needs 2 batches of 5 annotators
    p32 = _problem(torch.float32)
    assert batch_groups(p32, spec, {"memory_budget": 3200}) == 5
    assert p32.stream_bytes == 3200.0
    # float64: 12,800 bytes -> 4 batches -> 2 annotators each
    assert batch_groups(_problem(torch.float64), spec, {"memory_budget": 3200}) == 2
    assert batch_groups(_problem(torch.float32), spec, {"memory_budget": 6400}) is None  # it fits
    assert batch_groups(_problem(torch.float32), spec, {}) is None
    assert batch_groups(_problem(torch.float32), spec, {"batch_size": 3, "memory_budget": 10}) == 3


def test_a_budget_below_one_annotator_is_refused():
    spec = SimpleNamespace(n_types=2)
    # one annotator: 5 obs x 128 bytes + 8 rows x 3 dims x 4 bytes = 736 bytes
    with pytest.raises(DataError) as err:
        batch_groups(_problem(torch.float32), spec, {"memory_budget": 735})
    assert str(err.value).startswith("memory_budget: 735 bytes is smaller than one block (736 bytes: the largest "
                                     "annotator's 5 observations x 2 types and one row block of 3-d features)")
    assert batch_groups(_problem(torch.float32), spec, {"memory_budget": 736}) == 1

"""Engine and inference helpers at their edges (written to kill mutmut survivors;
tests/MUTATION.md). References: float64 numpy/math by the formula."""

import math
from types import SimpleNamespace

import numpy as np
import torch

from mixpref.models import _engine as E
from mixpref.models.inference.alignment import align_types


def test_segment_logsumexp_is_stable_for_large_values():
    values = torch.tensor([[1000.0, -5.0], [999.0, -7.0], [3.0, 2.0]], dtype=torch.float64)
    segment = torch.tensor([0, 0, 2])
    got = E.segment_logsumexp(values, segment, 3)
    assert got.shape == (3, 2)
    assert got[0, 0].item() == math.log1p(math.exp(-1.0)) + 1000.0
    assert abs(got[0, 1].item() - (-5.0 + math.log1p(math.exp(-2.0)))) < 1e-12
    assert torch.isneginf(got[1]).all()  # an empty segment: log of an empty sum
    assert got[2].tolist() == [3.0, 2.0]


def test_ranking_loglik_without_rankings_is_empty():
    r = torch.zeros(4, 3)
    for problem in (SimpleNamespace(rank_items=None, n_rankings=0),
                    SimpleNamespace(rank_items=torch.zeros(0, 2, dtype=torch.long), n_rankings=0)):
        out = E.ranking_loglik(r, problem)
        assert out.shape == (0, 3) and out.dtype == r.dtype


def test_align_types_matches_mlp_output_weights():
    spec = SimpleNamespace(n_types=3)
    rng = np.random.default_rng(0)
    ref = {"w2": torch.tensor(rng.normal(size=(3, 4))), "logits": torch.tensor([0.1, 0.2, 0.3])}
    perm = [2, 0, 1]
    params = {k: v[perm] + 0.01 for k, v in ref.items()}
    params["scalar"] = torch.tensor(1.0)
    out = align_types(spec, ref, params)
    torch.testing.assert_close(out["w2"], ref["w2"] + 0.01)
    torch.testing.assert_close(out["logits"], ref["logits"] + 0.01)
    assert out["scalar"].item() == 1.0


def test_init_params_starting_values():
    spec = E.Spec(kind="pl", alpha="learn", ties="davidson", n_types=3, reward="mlp", hidden=5)
    gen = torch.Generator().manual_seed(0)
    p = E.init_params(spec, 4, gen, "cpu", torch.float32)
    assert set(p) == {"w1", "b1", "w2", "tie", "alpha", "logits"}
    assert p["alpha"].tolist() == [1.0, 1.0, 1.0]  # policy temperature starts at 1
    assert p["tie"].tolist() == [-1.0, -1.0, -1.0]
    assert p["logits"].tolist() == [0.0, 0.0, 0.0] and p["b1"].abs().sum().item() == 0.0
    assert all(v.dtype == torch.float32 for v in p.values())
    assert p["w1"].shape == (3, 4, 5) and p["w2"].shape == (3, 5)

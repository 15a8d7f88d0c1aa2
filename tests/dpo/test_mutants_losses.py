"""Loss edge cases: the clamp at log-probability 0 and the vanishing-gradient warning
(written to kill mutmut survivors; tests/MUTATION.md)."""

import math
import warnings

import pytest
import torch

from mixpref.dpo import losses


def test_unlikelihood_at_log_probability_zero_uses_the_clamp():
    # compute() skips loss()'s checks (trainers' inner loops): log π = 0 is clamped to -1e-12
    zero = torch.zeros(1, dtype=torch.float64)
    got = losses.compute("unlikelihood", zero, zero, None, None, 1.0, torch.tensor([0.25], dtype=torch.float64))
    log1m = math.log(-math.expm1(-1e-12))  # log(1 - exp(-1e-12)) ~ log(1e-12)
    want = 0.25 * (1e-12 - log1m) + 0.75 * (1e-12 - log1m)
    assert torch.isfinite(got).all()
    assert got.item() == pytest.approx(want, rel=1e-9)
    hard = losses.compute("unlikelihood", torch.tensor([-1.0], dtype=torch.float64), zero, None, None, 1.0, None)
    assert hard.item() == pytest.approx(1.0 - log1m, rel=1e-9)


def test_vanishing_unlikelihood_warning_threshold_and_caller():
    lw = torch.tensor([-1.0, -1.0, -1.0])
    at_threshold = torch.tensor([-20.0, -2.0, -3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # exactly -20 is not below the threshold: no warning
        losses.loss("unlikelihood", lw, at_threshold)
    below = torch.tensor([-20.5, -2.0, -30.0])
    with pytest.warns(UserWarning) as record:
        losses.loss("unlikelihood", lw, below)
    assert len(record) == 1
    w = record[0]
    assert w.category is UserWarning
    assert str(w.message) == (
        "loss 'unlikelihood': 2 of 3 rejected responses have log π below -20, where the sequence-level term "
        "−log(1 − π) has a vanishing gradient (as for any real-length response); use the token-level variant "
        "(train_lm(..., unlikelihood='token'))"
    )


def test_log1mexp_is_accurate_near_zero_and_far_away():
    x = torch.tensor([-1e-10, -1e-3, -0.69, -0.7, -5.0, -40.0], dtype=torch.float32)
    want = [math.log(-math.expm1(v)) for v in x.double().tolist()]
    got = losses._log1mexp(x)
    assert torch.isfinite(got).all()
    for g, w in zip(got.tolist(), want):
        assert g == pytest.approx(w, rel=1e-5, abs=1e-12)


def test_token_unlikelihood_at_probability_one_uses_the_clamp():
    lp = torch.tensor([[0.0, math.log(0.5), -3.0]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64)
    got = losses.token_unlikelihood(lp, mask)
    want = -(math.log(-math.expm1(-1e-6)) + math.log(0.5))
    assert got.shape == (1,) and got.item() == pytest.approx(want, rel=1e-9)


def test_input_errors_name_the_argument():
    two = torch.tensor([-1.0, -2.0])
    with pytest.raises(losses.DataError) as err:
        losses.loss("sigmoid", "abc", two, two, two)
    assert str(err.value).startswith("policy_chosen: expected numbers, got str (")
    with pytest.raises(losses.DataError) as err:
        losses.loss("sigmoid", two, two, two, [-1.0, -2.0, -3.0])
    assert str(err.value) == "ref_rejected: shape (3,), expected (2,) (one value per example)"
    with pytest.raises(losses.DataError) as err:
        losses.loss("sigmoid", two, two, [[-1.0], [-2.0]], two)
    assert str(err.value) == "ref_chosen: shape (2, 1), expected (2,) (one value per example)"
    with pytest.raises(losses.DataError) as err:
        losses.loss("sigmoid", two, [-1.0], two, two)
    assert str(err.value) == "policy_rejected: shape (1,), expected (2,) (one value per example)"
    # lists take the policy's dtype
    got = losses.loss("sigmoid", two.double(), [-1.0, -1.0], [-1.5, -1.5], [-1.0, -1.0], beta=1.0)
    assert got.dtype == torch.float64
    want = [-math.log(1 / (1 + math.exp(-(0.5 + 0.0)))), -math.log(1 / (1 + math.exp(0.5)))]
    assert got.tolist() == pytest.approx(want, rel=1e-12)

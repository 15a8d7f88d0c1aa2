"""Each loss: autograd gradient w.r.t. the four log-probs equals the closed form (float64)."""

import numpy as np
import pytest
import torch

import mixpref as mp
from mixpref.dpo.losses import token_unlikelihood

BETA = 0.7
N = 64


def _inputs(seed=0, p=None):
    g = torch.Generator().manual_seed(seed)
    # negative sequence log-probs spread wide enough to cover both tails of sigma(beta h)
    x = -torch.rand(4, N, generator=g, dtype=torch.float64) * 12.0 - 0.05
    return [t.clone().requires_grad_(True) for t in x]


def _soft_p(seed=1, low=0.0):
    g = torch.Generator().manual_seed(seed)
    return low + (1 - low) * torch.rand(N, generator=g, dtype=torch.float64)


def _h(pc, pr, rc, rr):
    return (pc - rc) - (pr - rr)


sig = torch.sigmoid


def _closed_form_h(name, h, b, p):
    """dL/dh for the losses that depend on the log-probs only through h."""
    if name == "sigmoid" and p is None:
        return -b * sig(-b * h)
    if name in ("sigmoid", "soft"):
        return b * (sig(b * h) - p)
    if name == "ipo_sum":
        target = 1 / (2 * b) if p is None else (p - 0.5) / b
        return 2 * (h - target)
    if name == "hinge":
        if p is None:
            return -b * (b * h < 1).double()
        return -b * p * (b * h < 1).double() + b * (1 - p) * (b * h > -1).double()
    if name == "robust":
        eps = torch.zeros_like(h) if p is None else 1 - p
        return (-(1 - eps) * b * sig(-b * h) - eps * b * sig(b * h)) / (1 - 2 * eps)
    raise AssertionError(name)


def _autograd(name, p, seed=0):
    pc, pr, rc, rr = _inputs(seed)
    out = mp.dpo.loss(name, pc, pr, rc, rr, beta=BETA, p=p)
    assert out.shape == (N,) and out.dtype == torch.float64
    grads = torch.autograd.grad(out.sum(), [pc, pr, rc, rr], allow_unused=True)
    grads = [torch.zeros(N, dtype=torch.float64) if g is None else g for g in grads]
    return (pc.detach(), pr.detach(), rc.detach(), rr.detach()), grads


@pytest.mark.parametrize(
    "name,p",
    [
        ("sigmoid", None),
        ("sigmoid", "soft"),
        ("soft", "soft"),
        ("ipo_sum", None),
        ("ipo_sum", "soft"),
        ("hinge", None),
        ("hinge", "soft"),
        ("robust", None),
        ("robust", "robust"),
    ],
)
def test_reference_losses_gradient_matches_closed_form(name, p):
    p_t = {None: None, "soft": _soft_p(), "robust": _soft_p(low=0.55)}[p]
    (pc, pr, rc, rr), grads = _autograd(name, p_t)
    h = _h(pc, pr, rc, rr)
    if name == "hinge":  # the kink has no derivative; keep the random draws away from it
        assert torch.all((BETA * h - 1).abs() > 1e-6) and torch.all((BETA * h + 1).abs() > 1e-6)
    g = _closed_form_h(name, h, BETA, p_t)
    expected = [g, -g, -g, g]
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-8)


def test_dpo_gradient_is_the_shared_weight():
    # the statement: dL/dlog pi(y_w) = -beta (1 - sigma(beta h)) = -dL/dlog pi(y_l)
    (pc, pr, rc, rr), (gc, gr, _, _) = _autograd("sigmoid", None)
    w = BETA * (1 - sig(BETA * _h(pc, pr, rc, rr)))
    np.testing.assert_allclose(gc.numpy(), -w.numpy(), atol=1e-8, rtol=0)
    np.testing.assert_allclose(gr.numpy(), w.numpy(), atol=1e-8, rtol=0)


@pytest.mark.parametrize("soft", [False, True])
def test_unlikelihood_gradient_matches_closed_form(soft):
    p = _soft_p() if soft else None
    (pc, pr, _, _), (gc, gr, grc, grr) = _autograd("unlikelihood", p)
    # d/dx [-log(1 - e^x)] = e^x / (1 - e^x)
    ul = lambda x: torch.exp(x) / (1 - torch.exp(x))
    if p is None:
        want_c, want_r = -torch.ones_like(pc), ul(pr)
    else:
        want_c = -p + (1 - p) * ul(pc)
        want_r = p * ul(pr) - (1 - p)
    np.testing.assert_allclose(gc.numpy(), want_c.numpy(), atol=1e-8, rtol=0)
    np.testing.assert_allclose(gr.numpy(), want_r.numpy(), atol=1e-8, rtol=0)
    assert torch.all(grc == 0) and torch.all(grr == 0)


@pytest.mark.parametrize("soft", [False, True])
def test_generative_gradient_matches_closed_form(soft):
    p = _soft_p() if soft else None
    (pc, pr, _, _), (gc, gr, grc, grr) = _autograd("generative", p)
    d = pc - pr
    want = sig(d) - (1.0 if p is None else p)
    np.testing.assert_allclose(gc.numpy(), want.numpy(), atol=1e-8, rtol=0)
    np.testing.assert_allclose(gr.numpy(), -want.numpy(), atol=1e-8, rtol=0)
    assert torch.all(grc == 0) and torch.all(grr == 0)


def test_loss_values_match_formulas():
    pc, pr, rc, rr = (t.detach() for t in _inputs(3))
    h = _h(pc, pr, rc, rr)
    b = BETA
    p = _soft_p(4, low=0.6)
    ls = torch.nn.functional.logsigmoid
    cases = {
        ("sigmoid", None): -ls(b * h),
        ("soft", "p"): -p * ls(b * h) - (1 - p) * ls(-b * h),
        ("ipo_sum", None): (h - 1 / (2 * b)) ** 2,
        ("hinge", None): torch.relu(1 - b * h),
        ("robust", "p"): ((p) * -ls(b * h) + (1 - p) * ls(-b * h)) / (2 * p - 1),
        ("unlikelihood", None): -pc - torch.log(1 - torch.exp(pr)),
        ("generative", None): -ls(pc - pr),
    }
    for (name, use_p), want in cases.items():
        got = mp.dpo.loss(name, pc, pr, rc, rr, beta=b, p=p if use_p else None)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12, err_msg=name)
    assert set(mp.dpo.LOSSES) == {n for n, _ in cases}


def test_soft_losses_are_expectations_of_hard_losses():
    # sigmoid/hinge/generative/unlikelihood with p equal the p-mixture of both orientations;
    # ipo equals it up to a constant in the log-probs
    pc, pr, rc, rr = (t.detach() for t in _inputs(5))
    p = _soft_p(6)
    for name in ("sigmoid", "hinge", "generative", "unlikelihood"):
        mix = p * mp.dpo.loss(name, pc, pr, rc, rr, beta=BETA) + (1 - p) * mp.dpo.loss(name, pr, pc, rr, rc, beta=BETA)
        got = mp.dpo.loss(name, pc, pr, rc, rr, beta=BETA, p=p)
        np.testing.assert_allclose(got.numpy(), mix.numpy(), atol=1e-10, err_msg=name)
    mix = p * mp.dpo.loss("ipo_sum", pc, pr, rc, rr, beta=BETA) + (1 - p) * mp.dpo.loss("ipo_sum", pr, pc, rr, rc, beta=BETA)
    diff = mix - mp.dpo.loss("ipo_sum", pc, pr, rc, rr, beta=BETA, p=p)
    np.testing.assert_allclose(diff.numpy(), (1 / (4 * BETA**2) - ((p - 0.5) / BETA) ** 2).numpy(), atol=1e-10)


def test_token_unlikelihood_matches_sum_of_log_one_minus_p():
    probs = torch.tensor([[0.2, 0.9, 0.5], [0.01, 0.3, 0.7]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.float64)
    want = -(torch.log(1 - probs) * mask).sum(1)
    np.testing.assert_allclose(token_unlikelihood(torch.log(probs), mask).numpy(), want.numpy(), atol=1e-12)


def test_bad_inputs_raise_data_error():
    x = torch.tensor([-1.0, -2.0])
    with pytest.raises(mp.DataError, match="unknown"):
        mp.dpo.loss("nope", x, x, x, x)
    with pytest.raises(mp.DataError, match="p is required"):
        mp.dpo.loss("soft", x, x, x, x)
    with pytest.raises(mp.DataError, match="row 1"):
        mp.dpo.loss("soft", x, x, x, x, p=torch.tensor([0.5, 1.5]))
    with pytest.raises(mp.DataError, match="p > 0.5"):
        mp.dpo.loss("robust", x, x, x, x, p=torch.tensor([0.9, 0.5]))
    with pytest.raises(mp.DataError, match="ref_chosen"):
        mp.dpo.loss("sigmoid", x, x)
    with pytest.raises(mp.DataError, match="beta"):
        mp.dpo.loss("sigmoid", x, x, x, x, beta=0)
    with pytest.raises(mp.DataError, match="negative"):
        mp.dpo.loss("unlikelihood", torch.tensor([0.0]), torch.tensor([-1.0]))
    # reference-free losses need no reference
    assert mp.dpo.loss("generative", x, x).shape == (2,)
    # a column vector would broadcast to an (n, n) loss: refuse it, naming the argument
    with pytest.raises(mp.DataError, match="ref_chosen: shape"):
        mp.dpo.loss("sigmoid", x, x, x[:, None], x[:, None])
    with pytest.raises(mp.DataError, match="p: shape"):
        mp.dpo.loss("soft", x, x, x, x, p=torch.tensor([[0.6], [0.7]]))
    with pytest.raises(mp.DataError, match="policy_rejected: shape"):
        mp.dpo.loss("generative", x, torch.tensor([-1.0, -2.0, -3.0]))
    with pytest.raises(mp.DataError, match="beta"):
        mp.dpo.loss("sigmoid", x, x, x, x, beta="strong")
    with pytest.raises(mp.DataError, match="p: expected numbers"):
        mp.dpo.loss("soft", x, x, x, x, p="high")
    # scalars broadcast harmlessly
    assert mp.dpo.loss("sigmoid", x, x, 0.0, 0.0, p=0.8).shape == (2,)


def test_sequence_unlikelihood_warns_when_its_gradient_vanishes():
    import warnings

    import torch

    with pytest.warns(UserWarning, match="vanishing gradient"):
        mp.dpo.loss("unlikelihood", torch.tensor([-3.0, -2.0]), torch.tensor([-45.0, -60.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mp.dpo.loss("unlikelihood", torch.tensor([-3.0]), torch.tensor([-2.0]))


def test_ipo_is_named_ipo_sum_because_trls_ipo_averages_per_token():
    import torch

    assert "ipo" not in mp.dpo.LOSSES and "ipo_sum" in mp.dpo.LOSSES
    one = torch.tensor([-1.0])
    with pytest.raises(mp.DataError, match="ipo_sum"):
        mp.dpo.loss("ipo", one, one, one, one)

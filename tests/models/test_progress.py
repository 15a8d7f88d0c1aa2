"""A fit's progress bar completes when LBFGS converges early (issue 10, papercut)."""

import torch

from mixpref.models.inference import optimizers


def test_lbfgs_bar_completes_on_early_convergence(monkeypatch):
    bars = []
    real = optimizers.progress_bar

    def spy(total, desc, enabled):
        bar = real(total, desc, enabled)
        bars.append(bar)
        return bar

    monkeypatch.setattr(optimizers, "progress_bar", spy)
    target = torch.tensor([1.0, -2.0], dtype=torch.float64)
    params, value, iters = optimizers.lbfgs(
        lambda p: -((p["x"] - target) ** 2).sum(), {"x": torch.zeros(2, dtype=torch.float64)}, max_iter=500,
        progress=True,
    )
    assert torch.allclose(params["x"], target, atol=1e-6)
    assert iters < 500  # a quadratic converges long before the budget
    (bar,) = bars
    assert bar.n == bar.total == iters

"""The shrinkage prior of a mixture's types: each type = pooled parameters + a Normal deviation.

With pooled parameters ``m ~ N(0, s^2)`` and deviations ``delta_k ~ N(0, tau^2)``, the
pooled part integrates out in closed form: every coordinate j of the K types' parameters,
``x = theta[:, j]``, is ``N(0, Sigma)`` with ``Sigma = tau^2 I + s^2 11^T``. So the prior is
a correlated Gaussian on the usual per-type parameters (no new parameters, and the MAP path
and the Pyro model share this one function). ``s = None`` (flat pooled prior) keeps only
the deviation part (the improper direction contributes a constant).
"""

from __future__ import annotations

import math

import torch


def correlated_log_prior(p: torch.Tensor, tau: float, s: float | None) -> torch.Tensor:
    """log N(p[:, j]; 0, tau^2 I + s^2 11^T) summed over the coordinates j of ``p`` (K, ...)."""
    K = p.shape[0]
    x = p.reshape(K, -1)
    n = x.shape[1]
    t2 = float(tau) ** 2
    if s is None:
        c, logdet = 1.0 / K, (K - 1) * math.log(t2)
    else:
        s2 = float(s) ** 2
        c, logdet = s2 / (t2 + K * s2), (K - 1) * math.log(t2) + math.log(t2 + K * s2)
    quad = ((x * x).sum() - c * (x.sum(0) ** 2).sum()) / t2
    dims = K if s is not None else K - 1
    return -0.5 * quad - 0.5 * n * (logdet + dims * math.log(2 * math.pi))

"""Type labels made canonical: order by weight, or match another fit's types (Hungarian)."""

from __future__ import annotations

import torch

from .. import _engine as E


def order_types(spec: E.Spec, params: dict) -> dict:
    """Types sorted by decreasing weight (label switching made canonical)."""
    if spec.n_types == 1:
        return params
    order = torch.argsort(params["logits"], descending=True)
    out = {}
    for name, value in params.items():
        out[name] = value[order] if value.ndim >= 1 and value.shape[0] == spec.n_types else value
    return out


def align_types(spec: E.Spec, reference: dict, params: dict) -> dict:
    """Permute the types of ``params`` to best match ``reference`` (Hungarian on reward parameters)."""
    if spec.n_types == 1:
        return params
    from scipy.optimize import linear_sum_assignment

    name = "theta" if "theta" in params else "w2"
    a = reference[name].reshape(spec.n_types, -1).double().cpu().numpy()
    b = params[name].reshape(spec.n_types, -1).double().cpu().numpy()
    cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    _, perm = linear_sum_assignment(cost)
    perm_t = torch.as_tensor(perm, device=params[name].device)
    return {k: (v[perm_t] if v.ndim >= 1 and v.shape[0] == spec.n_types else v) for k, v in params.items()}

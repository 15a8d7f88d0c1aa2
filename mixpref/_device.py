"""Where torch work runs: one rule for every stage."""

from __future__ import annotations

from .errors import DataError


def resolve_device(device="auto"):
    """``"auto"`` (or None) is CUDA when available, else CPU; anything else goes to ``torch.device``.

    Examples
    --------
    >>> resolve_device("cpu").type
    'cpu'
    """
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise DataError(f"device: got {device!r}; expected 'auto', 'cpu', 'cuda' or 'cuda:N' ({err})") from None

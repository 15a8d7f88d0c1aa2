"""Where torch work runs and with how many threads: one rule for every stage."""

from __future__ import annotations

import contextlib

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


def resolve_dtype(dtype):
    """``"float32"`` (or None) / ``"float64"`` (or the torch dtypes) as a torch dtype.

    Examples
    --------
    >>> str(resolve_dtype("float64"))
    'torch.float64'
    """
    import torch

    if dtype in (None, "float32", torch.float32):
        return torch.float32
    if dtype in ("float64", torch.float64):
        return torch.float64
    raise DataError(f"dtype: got {dtype!r}, expected 'float32' or 'float64'")


def resolve_weights_dtype(dtype):
    """A language model's weight dtype: a torch dtype, or ``"auto"`` (None) for the caller to decide.

    Accepts ``"float32"``/``"fp32"``/``"float"``, ``"bfloat16"``/``"bf16"``,
    ``"float16"``/``"fp16"``/``"half"`` and torch dtypes.

    Examples
    --------
    >>> str(resolve_weights_dtype("bf16")), resolve_weights_dtype(None)
    ('torch.bfloat16', 'auto')
    """
    import torch

    if dtype is None or (isinstance(dtype, str) and dtype == "auto"):
        return "auto"
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {
        "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
        "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
        "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    }
    if str(dtype) not in names:
        raise DataError(f"dtype: got {dtype!r}; expected 'auto', 'float32', 'bfloat16', 'float16' or a torch.dtype")
    return names[str(dtype)]


@contextlib.contextmanager
def thread_limit(num_threads):
    """Run the block with torch's intra-op threads set to ``num_threads`` (None: unchanged).

    Examples
    --------
    >>> import torch
    >>> with thread_limit(1):
    ...     torch.get_num_threads()
    1
    """
    import torch

    if num_threads is None:
        yield
        return
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) and not hasattr(num_threads, "__index__"):
        raise DataError(f"num_threads: got {num_threads!r}; expected a positive integer or None")
    if int(num_threads) < 1:
        raise DataError(f"num_threads: got {num_threads!r}; expected a positive integer or None")
    before = torch.get_num_threads()
    torch.set_num_threads(int(num_threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)

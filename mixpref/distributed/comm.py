"""A torch.distributed process group as the few collectives a sharded fit needs (:class:`Comm`).

Every collective runs on the process group's backend (gloo on CPU, NCCL on GPU; tensors
move to the backend's device and back). The group's timeout bounds every collective, so a
rank that never arrives makes the others fail instead of hang; :meth:`Comm.agree` turns an
error on some ranks into the same clear error on every rank before it can desynchronise
them.
"""

from __future__ import annotations

import os
from datetime import timedelta

import numpy as np
import torch

from ..errors import DataError

DEFAULT_TIMEOUT_S = 600.0
TIMEOUT_ENV = "MIXPREF_DIST_TIMEOUT"


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher setting WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def timeout_seconds() -> float:
    """Collective timeout: ``$MIXPREF_DIST_TIMEOUT`` seconds, default 600."""
    value = os.environ.get(TIMEOUT_ENV)
    try:
        return float(value) if value else DEFAULT_TIMEOUT_S
    except ValueError:
        raise DataError(f"{TIMEOUT_ENV}: got {value!r}; expected a number of seconds") from None


def init(backend=None, timeout=None):
    """Initialise the default process group from torchrun's environment (once); returns a :class:`Comm`.

    ``backend``: ``"gloo"`` (CPU) or ``"nccl"`` (GPU); default NCCL when CUDA is available
    and ``MIXPREF_DEVICE`` is not ``cpu``, else gloo. ``timeout``: seconds for every
    collective (default :func:`timeout_seconds`).
    """
    import torch.distributed as dist

    if not dist.is_initialized():
        if backend is None:
            use_cuda = torch.cuda.is_available() and os.environ.get("MIXPREF_DEVICE", "auto") != "cpu"
            backend = "nccl" if use_cuda else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout or timeout_seconds()))
    return Comm()


class Comm:
    """Sums, gathers and agreement over the ranks of an initialised process group.

    Examples
    --------
    >>> import os, torch.distributed as dist
    >>> os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29533")
    >>> dist.init_process_group("gloo", rank=0, world_size=1)
    >>> comm = Comm()
    >>> comm.sum_array(np.ones(2)).tolist(), comm.rank, comm.world_size
    ([1.0, 1.0], 0, 1)
    >>> dist.destroy_process_group()
    """

    def __init__(self, group=None):
        import torch.distributed as dist

        if not dist.is_initialized():
            raise DataError("distributed: no process group; launch with torchrun or call mixpref.distributed.init() first")
        self.dist, self.group = dist, group
        self.rank, self.world_size = dist.get_rank(group), dist.get_world_size(group)
        nccl = dist.get_backend(group) == "nccl"
        self.device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")

    # -------------------------------------------------------------- reductions
    def sum_tensor(self, tensor: torch.Tensor) -> torch.Tensor:
        """Elementwise sum over ranks (a new tensor on ``tensor``'s device)."""
        buf = tensor.detach().to(self.device, copy=True).contiguous()
        self.dist.all_reduce(buf, group=self.group)
        return buf.to(tensor.device)

    def sum_array(self, array) -> np.ndarray:
        """Elementwise float64 sum over ranks of a numpy array."""
        return self.sum_tensor(torch.as_tensor(np.asarray(array, dtype=np.float64))).numpy()

    def max_int(self, value: int) -> int:
        t = torch.tensor([int(value)], dtype=torch.int64, device=self.device)
        self.dist.all_reduce(t, op=self.dist.ReduceOp.MAX, group=self.group)
        return int(t.item())

    def gather_rows(self, local, index, n_total) -> np.ndarray:
        """Rows ``local`` of this rank placed at ``index`` among ``n_total`` rows, from every rank (disjoint)."""
        local = np.asarray(local, dtype=np.float64)
        full = np.zeros((int(n_total),) + local.shape[1:])
        full[np.asarray(index)] = local
        return self.sum_array(full)

    def all_gather_object(self, obj) -> list:
        out = [None] * self.world_size
        self.dist.all_gather_object(out, obj, group=self.group)
        return out

    # -------------------------------------------------------------- agreement
    def check_same(self, value, what: str):
        """Raise the same :class:`DataError` on every rank unless all ranks pass an equal ``value``."""
        values = self.all_gather_object(value)
        if any(v != values[0] for v in values):
            groups = {}
            for rank, v in enumerate(values):
                groups.setdefault(repr(v), []).append(rank)
            detail = "; ".join(f"ranks {ranks}: {v[:80]}" for v, ranks in groups.items())
            raise DataError(f"distributed: the ranks see different {what} ({detail}); expected every rank to "
                            "read the same input")

    def agree(self, fn, what="setup"):
        """Run ``fn()`` on every rank; if it raised anywhere, raise one error naming each failed rank, everywhere."""
        error = None
        try:
            result = fn()
        except Exception as err:  # noqa: BLE001: re-raised below, on every rank
            error, result = err, None
        messages = self.all_gather_object(None if error is None else f"{type(error).__name__}: {error}")
        failed = [(rank, m) for rank, m in enumerate(messages) if m is not None]
        if failed:
            # the same message on every rank, naming each rank that failed and why
            detail = "; ".join(f"on rank {rank}: {m}" for rank, m in failed)
            raise DataError(f"distributed {what} failed {detail}") from error
        return result

    def barrier(self):
        self.dist.barrier(group=self.group)

"""Design matrices read from stored features block by block (``RowSource``) and a linear map over them.

A fit needs ``X @ theta.T`` for one of two design matrices: the response embeddings that
observations use (``phi``, gathered per comparison afterwards) or the comparisons'
difference vectors ``phi[a] - phi[b]``. Either is built from a *store*: an in-memory
array, a memory-mapped array (float16 or float32), or any object with ``take_rows(rows)``
(the cache's sharded features). When the matrix fits the memory budget it is materialised
once; otherwise :class:`StreamedLinear` recomputes its blocks from the store in the forward
and the backward pass, so resident memory stays at one block plus the store's own pages.
Between the two, a :class:`RowSource` can keep a leading run of its rows materialised
(:meth:`RowSource.keep_resident`) and stream only the rest: a budget a little smaller than
the matrix costs a little streaming, not a 3-5x slower fit.
"""

from __future__ import annotations

import numpy as np
import torch


def take(store, rows: np.ndarray) -> np.ndarray | torch.Tensor:
    """Rows ``rows`` of ``store`` (numpy or memory-mapped array, tensor, or an object with ``take_rows``)."""
    if hasattr(store, "take_rows"):
        return store.take_rows(rows)
    if isinstance(store, torch.Tensor):
        return store.index_select(0, torch.as_tensor(rows, device=store.device))
    if len(rows) and np.all(np.diff(rows) == 1):  # a contiguous run: a view, no copy
        return store[int(rows[0]): int(rows[-1]) + 1]
    return store[rows]


def store_dim(store) -> int:
    return int(store.dim if hasattr(store, "take_rows") else store.shape[1])


class RowSource:
    """Rows ``store[ia] - store[ib]`` (or ``store[ia]`` alone), produced in blocks of ``block_rows``.

    Examples
    --------
    >>> s = RowSource(np.eye(3, dtype=np.float32), np.array([0, 1]), np.array([2, 2]), block_rows=1)
    >>> s.materialize().tolist()
    [[1.0, 0.0, -1.0], [0.0, 1.0, -1.0]]
    """

    # rows per block over the resident part: views, so only a temporary of a caller (scatter) has this size
    RESIDENT_BLOCK = 8192

    def __init__(self, store, ia, ib=None, *, dtype=torch.float32, device="cpu", block_rows=65536):
        self.store = store
        self.ia = np.asarray(ia, dtype=np.int64)
        self.ib = None if ib is None else np.asarray(ib, dtype=np.int64)
        self.dtype, self.device = dtype, torch.device(device)
        self.n_rows, self.dim = len(self.ia), store_dim(store)
        self.block_rows = max(1, int(block_rows))
        self.resident = None  # rows 0..n_resident-1, materialised (keep_resident)

    @property
    def n_resident(self) -> int:
        return 0 if self.resident is None else int(self.resident.shape[0])

    def keep_resident(self, n_rows: int) -> "RowSource":
        """Materialise the first ``n_rows`` rows once; only the rest is re-read from the store in each pass."""
        n_rows = max(0, min(int(n_rows), self.n_rows))
        self.resident = None
        if n_rows:
            head = RowSource(self.store, self.ia[:n_rows], None if self.ib is None else self.ib[:n_rows],
                             dtype=self.dtype, device=self.device, block_rows=min(self.block_rows, 2048))
            self.resident = head.materialize()
        return self

    @property
    def nbytes(self) -> int:
        """Bytes of the materialised matrix."""
        return self.n_rows * self.dim * torch.finfo(self.dtype).bits // 8

    def _rows(self, idx):
        x = take(self.store, idx)
        return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(self.device, self.dtype)

    def block(self, start: int, stop: int) -> torch.Tensor:
        m = self.n_resident
        if stop <= m:
            # .to: a copy of this source may ask for another dtype (Laplace's float64 view); else a view
            return self.resident[start:stop].to(self.device, self.dtype)
        if start < m:  # a block straddling the resident part (ranges() never asks for one)
            return torch.cat([self.resident[start:], self.block(m, stop)])
        if self._direct():
            return torch.from_numpy(self._gather(start, stop))
        x = self._rows(self.ia[start:stop])
        if self.ib is not None:
            x = x - self._rows(self.ib[start:stop])
        return x

    def _gather(self, start, stop, out=None):
        """Rows ``start:stop`` of the design matrix gathered by numpy (into ``out`` if given); the b rows are
        subtracted in place, so only one block-sized temporary is alive besides the result."""
        x = np.take(self.store, self.ia[start:stop], axis=0, out=out)
        if self.ib is not None:
            np.subtract(x, np.take(self.store, self.ib[start:stop], axis=0), out=x)
        return x

    def _direct(self) -> bool:
        """Whether rows can be gathered with numpy straight into a tensor's memory (CPU, same dtype)."""
        return (isinstance(self.store, np.ndarray) and self.device.type == "cpu"
                and self.store.dtype == {torch.float32: np.float32, torch.float64: np.float64}.get(self.dtype))

    def ranges(self):
        m = self.n_resident
        for start in range(0, m, self.RESIDENT_BLOCK):
            yield start, min(start + self.RESIDENT_BLOCK, m)
        for start in range(m, self.n_rows, self.block_rows):
            yield start, min(start + self.block_rows, self.n_rows)

    def materialize(self) -> torch.Tensor:
        out = torch.empty((self.n_rows, self.dim), dtype=self.dtype, device=self.device)
        direct = self._direct()
        for start, stop in self.ranges():
            if direct:  # rows gathered straight into X
                self._gather(start, stop, out=out[start:stop].numpy())
            else:
                out[start:stop] = self.block(start, stop)
        return out

    def scatter(self, group: torch.Tensor, weight: torch.Tensor, n_groups: int) -> torch.Tensor:
        """``S[g] = sum over rows i of group g of weight[i] * X[i]``: (n_groups, d), one block at a time."""
        out = torch.zeros((n_groups, self.dim), dtype=self.dtype, device=self.device)
        for start, stop in self.ranges():
            out.index_add_(0, group[start:stop], weight[start:stop, None].to(self.dtype) * self.block(start, stop))
        return out


class StreamedLinear(torch.autograd.Function):
    """``X @ theta.T`` for a :class:`RowSource` ``X`` without keeping ``X``: blocks are re-read in backward.

    Written for ``torch.func`` too (``setup_context``, out-of-place block sums, a ``jvp``): the
    Laplace curvature takes ``torch.func.hessian`` through it.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(theta, source):
        return _product(source, theta)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.source = inputs[1]

    @staticmethod
    def backward(ctx, grad):
        source = ctx.source
        g = None
        for start, stop in source.ranges():
            part = grad[start:stop].transpose(-1, -2) @ source.block(start, stop).to(grad.dtype)
            g = part if g is None else g + part
        if g is None:
            g = grad.new_zeros(grad.shape[:-2] + (grad.shape[-1], source.dim))
        return g, None

    @staticmethod
    def jvp(ctx, theta_tangent, _source_tangent):
        # linear in theta: the tangent of X @ theta.T is X @ tangent.T
        return _product(ctx.source, theta_tangent)


def _product(source, theta):
    # out of place (a list of blocks, one cat): in-place writes cannot take torch.func's batched values
    parts = [source.block(start, stop).to(theta.dtype) @ theta.transpose(-1, -2) for start, stop in source.ranges()]
    if not parts:
        return theta.new_zeros(theta.shape[:-2] + (0, theta.shape[-2]))
    return torch.cat(parts, dim=-2)


def linear(x, theta: torch.Tensor) -> torch.Tensor:
    """``x @ theta.T`` for a tensor or a streamed :class:`RowSource`."""
    if isinstance(x, RowSource):
        return StreamedLinear.apply(theta, x)
    return x @ theta.T

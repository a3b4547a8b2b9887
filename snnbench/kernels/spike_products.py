"""Products with spike trains as sums over their spikes: the CPU's event-driven form of ``X @ B`` and ``Xᵀ @ G``
where X ``[M, K]`` is mostly zeros (input spikes: 0.3-0.6 % of N-MNIST-1k's bins hold an event, 2.5 % of
ST-RSBP's MNIST spike trains).

A dense GEMM multiplies every zero; these loops visit only X's nonzeros, once each:

- ``rows_matmul``:   (X @ B)[m]  = Σ_k X[m, k]·B[k]   (a layer's drive W·s with B = Wᵀ)
- ``rows_t_matmul``: (Xᵀ @ G)[k] = Σ_m X[m, k]·G[m]   (its weight gradient; ST-RSBP's S-PSPs Sᵀ·Q)

The PyTorch references are the two products themselves (``x @ b``, ``x.t() @ g``). The sums are the same
terms in another order (ascending k, resp. m, accumulated in B's dtype), so they round differently from a
BLAS GEMM: the rules use them only behind a named option (SLAYER's ``event_input``, ST-RSBP's and HM2-BP's
``spsp_form=events``), whose cells are their own.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from .numba_jit import AVAILABLE, jit


@jit
def _count(x):  # noqa: ANN001, ANN202 - nonzeros per row of a [M, K] float32 array
    counts = np.zeros(x.shape[0] + 1, dtype=np.int64)
    for m in range(x.shape[0]):
        row, c = x[m], 0
        for k in range(x.shape[1]):
            if row[k] != 0:
                c += 1
        counts[m + 1] = counts[m] + c
    return counts


@jit
def _fill(x, indptr, indices, values):  # noqa: ANN001, ANN202 - the nonzeros' columns and values, row by row
    for m in range(x.shape[0]):
        row, p = x[m], indptr[m]
        for k in range(x.shape[1]):
            if row[k] != 0:
                indices[p] = k
                values[p] = row[k]
                p += 1


@jit
def _accumulate(indptr, indices, values, source, out, transposed):  # noqa: ANN001, ANN202
    """Each nonzero x[m, k] adds x[m, k]·source[k] to out[m] (X @ B) or, ``transposed``, x[m, k]·source[m] to
    out[k] (Xᵀ @ G), in the nonzeros' row-by-row order."""
    for m in range(indptr.shape[0] - 1):
        for p in range(indptr[m], indptr[m + 1]):
            k, v = indices[p], values[p]
            row, added = (out[k], source[m]) if transposed else (out[m], source[k])
            for n in range(row.shape[0]):
                row[n] += v * added[n]


@dataclass(frozen=True)
class SpikeRows:
    """The nonzeros of a ``[M, K]`` float32 tensor, row by row (CSR: ``indptr`` ``[M+1]``, ``indices`` and
    ``values`` ``[nnz]``), built once and read by both products."""

    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @property
    def density(self) -> float:
        return len(self.values) / max(1, self.shape[0] * self.shape[1])


_RECENT: OrderedDict = OrderedDict()  # the last few tensors' rows: a layer's input, read in the forward and backward
RECENT = 8


def spike_rows(x: torch.Tensor) -> SpikeRows:
    """The nonzeros of ``x`` viewed ``[M, K]`` (its first dim rows, the rest columns; CPU, read as float32).
    The rows of the last :data:`RECENT` tensors are kept: a layer's input spikes, read by its forward (the
    drive) and again by its backward (the S-PSPs), are scanned once. A tensor is recognised by its memory,
    layout and version counter (the entry holds it, so its memory is not reused while it is cached; any
    in-place write bumps the version)."""
    key = (x.data_ptr(), tuple(x.shape), x.stride(), x.dtype, x._version)
    hit = _RECENT.get(key)
    if hit is not None:
        _RECENT.move_to_end(key)
        return hit[1]
    flat = np.ascontiguousarray(x.detach().reshape(x.shape[0], -1).to(torch.float32).numpy())
    indptr = _count(flat)
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    values = np.empty(int(indptr[-1]), dtype=np.float32)
    _fill(flat, indptr, indices, values)
    rows = SpikeRows(flat.shape, indptr, indices, values)
    _RECENT[key] = (x, rows)
    while len(_RECENT) > RECENT:
        _RECENT.popitem(last=False)
    return rows


def _operand(b: torch.Tensor, rows: int) -> np.ndarray:
    if b.dim() != 2 or b.shape[0] != rows:
        raise ValueError(f"the dense operand must be [{rows}, N], got shape {tuple(b.shape)}")
    if b.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"the dense operand must be float32 or float64, got {b.dtype}")
    return np.ascontiguousarray(b.detach().numpy())


def rows_matmul(x: SpikeRows, b: torch.Tensor) -> torch.Tensor:
    """``X @ B`` ``[M, N]`` in B's dtype (reference: ``x @ b``), summing only X's nonzeros, in ascending k."""
    source = _operand(b, x.shape[1])
    out = np.zeros((x.shape[0], source.shape[1]), dtype=source.dtype)
    _accumulate(x.indptr, x.indices, x.values, source, out, False)
    return torch.from_numpy(out)


def rows_t_matmul(x: SpikeRows, g: torch.Tensor) -> torch.Tensor:
    """``Xᵀ @ G`` ``[K, N]`` in G's dtype (reference: ``x.t() @ g``), summing only X's nonzeros, in ascending m."""
    source = _operand(g, x.shape[0])
    out = np.zeros((x.shape[1], source.shape[1]), dtype=source.dtype)
    _accumulate(x.indptr, x.indices, x.values, source, out, True)
    return torch.from_numpy(out)


def available(x: torch.Tensor) -> bool:
    """Whether the compiled loops run for ``x`` (a CPU tensor, Numba on); elsewhere the dense products do."""
    return AVAILABLE and x.device.type == "cpu"


class _EventLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # noqa: ANN001 - x [M, K]
        ctx.rows = spike_rows(x)
        ctx.save_for_backward(weight)
        return rows_matmul(ctx.rows, weight.detach().t())  # [M, N] in the weight's dtype

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:  # noqa: ANN001
        (weight,) = ctx.saved_tensors
        flat = grad.reshape(-1, weight.shape[0]).contiguous()
        grad_x = flat @ weight if ctx.needs_input_grad[0] else None
        grad_w = rows_t_matmul(ctx.rows, flat).t().contiguous() if ctx.needs_input_grad[1] else None
        return grad_x, grad_w


def event_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weightᵀ`` (``F.linear`` without a bias) for a mostly-zero ``x`` ``[..., K]``: forward and weight
    gradient as sums over x's nonzeros on the CPU (:func:`rows_matmul`, :func:`rows_t_matmul`); the dense
    ``F.linear`` elsewhere."""
    if not available(x):
        return torch.nn.functional.linear(x, weight)
    return _EventLinear.apply(x.reshape(-1, x.shape[-1]), weight).reshape(*x.shape[:-1], weight.shape[0])


def warm() -> None:
    """Compile the loops for the argument types the rules pass (float32 and float64 dense operands)."""
    rows = spike_rows(torch.eye(2))
    for dtype in (torch.float32, torch.float64):
        rows_matmul(rows, torch.ones(2, 2, dtype=dtype))
        rows_t_matmul(rows, torch.ones(2, 2, dtype=dtype))
    event_linear(torch.eye(2), torch.ones(2, 2, requires_grad=True)).sum().backward()


__all__ = ["SpikeRows", "available", "event_linear", "rows_matmul", "rows_t_matmul", "spike_rows", "warm"]

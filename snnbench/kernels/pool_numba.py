"""Average pooling over non-overlapping k×k windows compiled for the CPU with Numba (the ``P<k>`` layers of
STBP, STBP-tdBN and TET, and with a divisor of 1 the sum pools of TSSL-BP and SLAYER), where the windows tile
the map exactly.

The reference is PyTorch's ``avg_pool2d`` on a contiguous ``[N, C, H, W]`` float32 tensor, whose CPU loop
sums each window row by row from zero in float32 and divides by k² (or ``divisor_override``); its backward
gives every input the gradient of its window's output divided by the same divisor (one window each). These
loops do the same float32 operations in the same order, so outputs and gradients are bit for bit PyTorch's
(tests/test_lif_numba.py), in one pass without the per-output window arithmetic of the general kernel.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .numba_jit import jit


@jit
def _pool(x, k, divisor, out):  # noqa: ANN001, ANN202
    planes, height, width = out.shape
    total = np.empty(width, dtype=np.float32)  # one output row's window sums, each window in PyTorch's order
    for p in range(planes):
        for i in range(height):
            total[:] = np.float32(0.0)
            for di in range(k):
                row = x[p, i * k + di]
                for dj in range(k):
                    for j in range(width):  # over the row: vectorises
                        total[j] += row[j * k + dj]
            for j in range(width):
                out[p, i, j] = total[j] / divisor


@jit
def _pool_backward(grad, k, divisor, out):  # noqa: ANN001, ANN202
    planes, height, width = grad.shape
    share = np.empty(width, dtype=np.float32)
    for p in range(planes):
        for i in range(height):
            for j in range(width):
                share[j] = grad[p, i, j] / divisor
            for di in range(k):
                row = out[p, i * k + di]
                for dj in range(k):
                    for j in range(width):
                        row[j * k + dj] = share[j]


def tiles(x: torch.Tensor, k: int) -> bool:
    """Whether this loop computes ``avg_pool2d(x, k)``: a float32 CPU ``[N, C, H, W]`` tensor whose height and
    width are multiples of k."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4 and k > 0
            and x.shape[2] % k == 0 and x.shape[3] % k == 0)


class _AvgPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, k: int, divisor: int) -> torch.Tensor:  # type: ignore[override]
        n, c, h, w = x.shape
        planes = np.ascontiguousarray(x.detach().numpy()).reshape(n * c, h, w)
        out = np.empty((n * c, h // k, w // k), dtype=np.float32)
        _pool(planes, k, np.float32(divisor), out)
        ctx.k, ctx.divisor, ctx.shape = k, divisor, x.shape
        return torch.from_numpy(out).view(n, c, h // k, w // k)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        n, c, h, w = ctx.shape
        k = ctx.k
        flat = np.ascontiguousarray(grad.detach().numpy()).reshape(n * c, h // k, w // k)
        out = np.empty((n * c, h, w), dtype=np.float32)
        _pool_backward(flat, k, np.float32(ctx.divisor), out)
        return torch.from_numpy(out).view(n, c, h, w), None, None


def avg_pool_numba(x: torch.Tensor, k: int) -> torch.Tensor:
    """``avg_pool2d(x, k, ceil_mode=True)`` for a tensor :func:`tiles` accepts (else PyTorch's, the reference)."""
    return _AvgPool.apply(x, k, k * k) if tiles(x, k) else F.avg_pool2d(x, k, ceil_mode=True)


def sum_pool_numba(x: torch.Tensor, k: int) -> torch.Tensor:
    """``avg_pool2d(x, k, divisor_override=1)``, each window's sum, for a tensor :func:`tiles` accepts (else
    PyTorch's, the reference)."""
    return _AvgPool.apply(x, k, 1) if tiles(x, k) else F.avg_pool2d(x, k, divisor_override=1)


def warm() -> None:
    """Compile the pool and its backward for the argument types :func:`avg_pool_numba` passes."""
    avg_pool_numba(torch.zeros(1, 1, 2, 2, requires_grad=True), 2).sum().backward()


__all__ = ["avg_pool_numba", "sum_pool_numba", "tiles", "warm"]

"""Batch normalisation over time-folded spiking tensors, Triton backend: the same formula as
:func:`snnbench.kernels.batchnorm.batch_norm_torch` (the readable reference).

Layout: ``[N, C, H, W]`` contiguous (N = T·B). The statistics are reduced in two levels so that a layer with
few channels still fills the GPU: programs ``(channel, chunk of rows)`` compute each chunk's mean and
centred sum of squares (two passes over the chunk, no cancellation), and the chunks are merged per channel
with Chan's formula on the host side of the launch (a ``[C, chunks]`` tensor). The normalisation, and in the
backward the two per-channel sums and dx, are elementwise launches. State and arithmetic are float32.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .backends import check_triton_device
from .launch import NUM_WARPS

TARGET_PROGRAMS = 512  # (channel, chunk) programs of the reductions
APPLY_BLOCK = 1024


@triton.jit
def _chunk_stats_kernel(x_ptr, mean_ptr, m2_ptr, N, C, HW, ROWS, CHUNKS, BLOCK: tl.constexpr):
    c = tl.program_id(0)
    k = tl.program_id(1)
    first = k * ROWS
    last = tl.minimum(first + ROWS, N)
    cols = tl.arange(0, BLOCK)
    total = tl.zeros([BLOCK], tl.float32)
    for n in range(first, last):
        base = (c + n * C).to(tl.int64) * HW
        for h in range(0, HW, BLOCK):
            mask = h + cols < HW
            total += tl.load(x_ptr + base + h + cols, mask=mask, other=0.0).to(tl.float32)
    count = ((last - first) * HW).to(tl.float32)
    mean = tl.sum(total, 0) / count
    sq = tl.zeros([BLOCK], tl.float32)
    for n in range(first, last):
        base = (c + n * C).to(tl.int64) * HW
        for h in range(0, HW, BLOCK):
            mask = h + cols < HW
            d = tl.load(x_ptr + base + h + cols, mask=mask, other=0.0).to(tl.float32) - mean
            sq += tl.where(mask, d * d, 0.0)
    tl.store(mean_ptr + c * CHUNKS + k, mean)
    tl.store(m2_ptr + c * CHUNKS + k, tl.sum(sq, 0))


@triton.jit
def _chunk_grad_kernel(dy_ptr, x_ptr, mean_ptr, rstd_ptr, sdy_ptr, sdyx_ptr, N, C, HW, ROWS, CHUNKS,
                       BLOCK: tl.constexpr):
    c = tl.program_id(0)
    k = tl.program_id(1)
    first = k * ROWS
    last = tl.minimum(first + ROWS, N)
    cols = tl.arange(0, BLOCK)
    mean = tl.load(mean_ptr + c)
    rstd = tl.load(rstd_ptr + c)
    acc_dy = tl.zeros([BLOCK], tl.float32)
    acc_dyx = tl.zeros([BLOCK], tl.float32)
    for n in range(first, last):
        base = (c + n * C).to(tl.int64) * HW
        for h in range(0, HW, BLOCK):
            mask = h + cols < HW
            dy = tl.load(dy_ptr + base + h + cols, mask=mask, other=0.0).to(tl.float32)
            x = tl.load(x_ptr + base + h + cols, mask=mask, other=0.0).to(tl.float32)
            acc_dy += dy
            acc_dyx += tl.where(mask, dy * ((x - mean) * rstd), 0.0)
    tl.store(sdy_ptr + c * CHUNKS + k, tl.sum(acc_dy, 0))
    tl.store(sdyx_ptr + c * CHUNKS + k, tl.sum(acc_dyx, 0))


@triton.jit
def _apply_kernel(x_ptr, y_ptr, mean_ptr, rstd_ptr, w_ptr, b_ptr, TOTAL, C, HW, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < TOTAL
    c = (offs // HW) % C
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    mean = tl.load(mean_ptr + c, mask=mask, other=0.0)
    rstd = tl.load(rstd_ptr + c, mask=mask, other=1.0)
    w = tl.load(w_ptr + c, mask=mask, other=1.0)
    b = tl.load(b_ptr + c, mask=mask, other=0.0)
    y = (x - mean) * rstd * w + b
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _dx_kernel(dy_ptr, x_ptr, dx_ptr, mean_ptr, rstd_ptr, w_ptr, sdy_ptr, sdyx_ptr, TOTAL, C, HW, inv_count,
               TRAINING: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < TOTAL
    c = (offs // HW) % C
    dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    rstd = tl.load(rstd_ptr + c, mask=mask, other=1.0)
    r = tl.load(w_ptr + c, mask=mask, other=1.0) * rstd
    if TRAINING:
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        mean = tl.load(mean_ptr + c, mask=mask, other=0.0)
        sdy = tl.load(sdy_ptr + c, mask=mask, other=0.0)
        sdyx = tl.load(sdyx_ptr + c, mask=mask, other=0.0)
        dx = r * (dy - sdy * inv_count - (x - mean) * rstd * sdyx * inv_count)
    else:  # frozen statistics: y is affine in x
        dx = r * dy
    tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)


def _layout(x: torch.Tensor) -> tuple[int, int, int, int, int, int]:
    """(N, C, HW, rows per chunk, chunks, block) of the reductions over ``[N, C, H, W]``."""
    n, c = x.shape[0], x.shape[1]
    hw = x.shape[2] * x.shape[3]
    chunks = max(1, min(n, TARGET_PROGRAMS // max(c, 1)))
    rows = triton.cdiv(n, chunks)
    chunks = triton.cdiv(n, rows)
    return n, c, hw, rows, chunks, triton.next_power_of_2(min(max(hw, 1), 1024))


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance of ``[N, C, H, W]`` (float32): chunk statistics merged with
    Chan's formula."""
    n, c, hw, rows, chunks, block = _layout(x)
    means = torch.empty(c, chunks, dtype=torch.float32, device=x.device)
    m2 = torch.empty_like(means)
    _chunk_stats_kernel[(c, chunks)](x, means, m2, n, c, hw, rows, chunks, BLOCK=block, num_warps=NUM_WARPS)
    counts = (torch.clamp(n - torch.arange(chunks, device=x.device) * rows, max=rows) * hw).to(torch.float32)
    total = counts.sum()
    mean = (means * counts).sum(1) / total
    var = (m2.sum(1) + (counts * (means - mean.unsqueeze(1)) ** 2).sum(1)) / total
    return mean, var


class _BatchNormTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):  # noqa: ANN001
        x = x.contiguous()
        check_triton_device(x.device)
        c = x.shape[1]
        count = x.numel() // max(c, 1)
        if training:
            if count < 2:
                raise ValueError(f"batch norm in training needs more than 1 value per channel, got {count}")
            mean, var = channel_stats(x)
            if running_mean is not None and running_var is not None:
                running_mean.mul_(1 - momentum).add_(momentum * mean)
                running_var.mul_(1 - momentum).add_(momentum * var * count / (count - 1))
        else:
            mean, var = running_mean.float(), running_var.float()
        rstd = torch.rsqrt(var + eps)
        w = weight.float().contiguous() if weight is not None else torch.ones(c, device=x.device)
        b = bias.float().contiguous() if bias is not None else torch.zeros(c, device=x.device)
        y = torch.empty_like(x)
        total = x.numel()
        if total:
            _apply_kernel[(triton.cdiv(total, APPLY_BLOCK),)](x, y, mean.contiguous(), rstd.contiguous(), w, b, total,
                                                              c, x.shape[2] * x.shape[3], BLOCK=APPLY_BLOCK,
                                                              num_warps=NUM_WARPS)
        ctx.save_for_backward(x, mean, rstd, w)
        ctx.training, ctx.has_weight, ctx.has_bias = training, weight is not None, bias is not None
        return y

    @staticmethod
    def backward(ctx, dy):  # noqa: ANN001
        x, mean, rstd, w = ctx.saved_tensors
        dy = dy.contiguous()
        n, c, hw, rows, chunks, block = _layout(x)
        sdy = torch.empty(c, chunks, dtype=torch.float32, device=x.device)
        sdyx = torch.empty_like(sdy)
        _chunk_grad_kernel[(c, chunks)](dy, x, mean, rstd, sdy, sdyx, n, c, hw, rows, chunks, BLOCK=block,
                                        num_warps=NUM_WARPS)
        sdy, sdyx = sdy.sum(1), sdyx.sum(1)
        dx = torch.empty_like(x)
        total = x.numel()
        if total and ctx.needs_input_grad[0]:
            _dx_kernel[(triton.cdiv(total, APPLY_BLOCK),)](dy, x, dx, mean, rstd, w, sdy, sdyx, total, c, hw,
                                                           1.0 / (n * hw), TRAINING=ctx.training, BLOCK=APPLY_BLOCK,
                                                           num_warps=NUM_WARPS)
        dw = sdyx if ctx.has_weight else None
        db = sdy if ctx.has_bias else None
        return dx, dw, db, None, None, None, None, None


def batch_norm_triton(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                      running_mean: torch.Tensor | None, running_var: torch.Tensor | None, *, training: bool,
                      momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """The fused batch norm of ``[N, C, H, W]``; arguments as :func:`batch_norm_torch`."""
    if x.dim() != 4:
        raise ValueError(f"batch_norm_triton takes [N, C, H, W], got shape {tuple(x.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch norm in eval mode needs running statistics")
    return _BatchNormTriton.apply(x, weight, bias, running_mean, running_var, training, momentum, eps)


__all__ = ["batch_norm_triton", "channel_stats"]

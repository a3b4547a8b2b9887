"""Multi-step LIF, fused Triton backend: the forward scan in one launch, the reverse-time backward
scan in one launch. Same equations as :func:`snnbench.kernels.lif.lif_forward` /
:func:`snnbench.kernels.lif.lif_backward`, the readable PyTorch reference.

Layout: the input is viewed as ``[T, M]``; one program owns ``BLOCK`` neurons and loops over time.
Saved for the backward: the pre-reset membrane u_t in float32 (4 bytes per neuron-step); the spikes
are recomputed from it (s_t = [u_t > V_th]). Float contraction is disabled so that the spikes match
the PyTorch reference bit for bit.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from .launch import launch, time_major
from .lif import LIFParams
from .surrogate import SURROGATES

BLOCK = 512


@triton.jit
def _lif_fwd_kernel(x_ptr, s_ptr, u_ptr, M, T, decay, threshold, HARD: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    mem = tl.zeros([BLOCK], tl.float32)
    fired = tl.zeros([BLOCK], tl.float32)
    for t in range(T):
        idx = t * M + offs
        x = tl.load(x_ptr + idx, mask=mask, other=0.0).to(tl.float32)
        if HARD:
            kept = tl.where(fired > 0, 0.0, mem)
        else:
            kept = mem - threshold * fired
        mem = x + decay * kept
        fired = (mem > threshold).to(tl.float32)
        tl.store(u_ptr + idx, mem, mask=mask)
        tl.store(s_ptr + idx, fired.to(s_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _surrogate(x, width, KIND: tl.constexpr):
    if KIND == 0:  # rectangle
        out = tl.where(tl.abs(x) < width / 2, 1.0 / width, 0.0)
    elif KIND == 1:  # triangle
        out = tl.maximum(width - tl.abs(x), 0.0) / (width * width)
    elif KIND == 2:  # sigmoid
        sig = 1.0 / (1.0 + tl.exp(-width * x))
        out = width * sig * (1 - sig)
    else:  # atan
        z = 1.5707963267948966 * width * x
        out = (width / 2) / (1 + z * z)
    return out


@triton.jit
def _lif_bwd_kernel(g_ptr, u_ptr, out_ptr, M, T, decay, threshold, width, HARD: tl.constexpr,
                    DETACH: tl.constexpr, KIND: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    carry = tl.zeros([BLOCK], tl.float32)  # a_t = decay·δ_{t+1}
    for i in range(T):
        idx = (T - 1 - i) * M + offs
        g = tl.load(g_ptr + idx, mask=mask, other=0.0).to(tl.float32)
        u = tl.load(u_ptr + idx, mask=mask, other=0.0)
        sg = _surrogate(u - threshold, width, KIND)
        if HARD:
            if not DETACH:
                g = g - carry * u
            delta = g * sg + tl.where(u > threshold, 0.0, carry)
        else:
            if not DETACH:
                g = g - threshold * carry
            delta = g * sg + carry
        tl.store(out_ptr + idx, delta.to(out_ptr.dtype.element_ty), mask=mask)
        carry = decay * delta


class _LIFTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, params):  # type: ignore[override]
        x, steps, m = time_major(current)
        spikes = torch.empty_like(x)
        membrane = torch.empty(x.shape, dtype=torch.float32, device=x.device)
        launch(_lif_fwd_kernel, m, steps, x, spikes, membrane, m, steps, params.decay, params.threshold,
               block=BLOCK, HARD=params.reset == "zero")
        ctx.save_for_backward(membrane)
        ctx.params = params
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):  # type: ignore[override]
        (membrane,) = ctx.saved_tensors
        p: LIFParams = ctx.params
        g, steps, m = time_major(grad_spikes)
        grad = torch.empty_like(g)
        launch(_lif_bwd_kernel, m, steps, g, membrane, grad, m, steps, p.decay, p.threshold, p.width, block=BLOCK,
               HARD=p.reset == "zero", DETACH=p.detach_reset, KIND=SURROGATES.index(p.surrogate))
        return grad, None


assert SURROGATES == ("rectangle", "triangle", "sigmoid", "atan") and abs(math.pi / 2 - 1.5707963267948966) < 1e-15


def lif_triton(current: torch.Tensor, params: LIFParams) -> torch.Tensor:
    """LIF spikes ``[T, ...]`` (dtype of ``current``) from the fused Triton scans."""
    return _LIFTriton.apply(current, params)

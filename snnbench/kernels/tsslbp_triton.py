"""TSSL-BP neuron, fused Triton backend: the forward scan in one launch and the backward reverse scan
in one launch. Same equations as the PyTorch reference in :mod:`snnbench.kernels.tsslbp`, which is
the readable version; this file only changes where the state lives.

Layout: the input is viewed as ``[T, M]`` (M neurons, contiguous); one program owns ``BLOCK``
neurons and loops over time, keeping the membrane, the PSC, G and the carry in registers.

Saved for the backward (8 bytes per neuron-step instead of the reference's 16):

- ``U``: the pre-reset membrane u_t, float32 (the sigmoid's argument and the reset term);
- ``R``: one float32 code that folds the spike and the warm-up flag together:
  r_t = clamp(1/Δu_t, 0, 8) on a spike step (> 0 with zero reset: Δu_t > 0 whenever u_t crosses
  the threshold), −1 on a non-spike step whose PSC is below 1/(4τs) (warm-up), 0 otherwise.
  A spike step is never a warm-up step, since its PSC is at least 1/τs. A spike step with r_t = 0
  (possible only with the subtraction reset) gets exactly the non-spike value C·(1 − θm), so code 0
  is unambiguous.

Float contraction (FMA) is disabled so the spikes match the PyTorch reference bit for bit.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .launch import launch, time_major
from .tsslbp import INV_DU_CAP, WARMUP_SLOPE, TSSLBPParams

BLOCK = 512


@triton.jit
def _tsslbp_fwd_kernel(x_ptr, psc_ptr, u_ptr, r_ptr, M, T, theta_m, theta_s, threshold, warm_level,
                       RESET_ZERO: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    mem = tl.zeros([BLOCK], tl.float32)
    syn = tl.zeros([BLOCK], tl.float32)
    for t in range(T):
        idx = t * M + offs
        x = tl.load(x_ptr + idx, mask=mask, other=0.0).to(tl.float32)
        update = (-theta_m) * mem + x
        mem = mem + update
        fired = mem > threshold
        out = fired.to(tl.float32)
        tl.store(u_ptr + idx, mem, mask=mask)
        if RESET_ZERO:
            mem = mem * (1 - out)
        else:
            mem = mem - threshold * out
        syn = syn + (out - syn) * theta_s
        tl.store(psc_ptr + idx, syn.to(psc_ptr.dtype.element_ty), mask=mask)
        r = tl.minimum(tl.maximum(1.0 / update, 0.0), 8.0)  # clamp(1/Δu, 0, INV_DU_CAP)
        code = tl.where(fired, r, tl.where(syn < warm_level, -1.0, 0.0))
        tl.store(r_ptr + idx, code, mask=mask)


@triton.jit
def _tsslbp_bwd_kernel(g_ptr, u_ptr, r_ptr, out_ptr, flag_ptr, M, T, theta_m, theta_s, threshold,
                       RESET_ZERO: tl.constexpr, INTRA: tl.constexpr, LAYER_WARMUP: tl.constexpr,
                       BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    big_g = tl.zeros([BLOCK], tl.float32)
    carry = tl.zeros([BLOCK], tl.float32)
    if LAYER_WARMUP:
        layer_warm = tl.load(flag_ptr) != 0
    for i in range(T):
        idx = (T - 1 - i) * M + offs
        g = tl.load(g_ptr + idx, mask=mask, other=0.0).to(tl.float32)
        u = tl.load(u_ptr + idx, mask=mask, other=0.0)
        code = tl.load(r_ptr + idx, mask=mask, other=0.0)
        big_g = g * theta_s + (1 - theta_s) * big_g
        spiked = code > 0
        r = tl.where(spiked, code, 0.0)
        on_spike = r * big_g
        if RESET_ZERO:
            if INTRA:
                on_spike = on_spike + carry * theta_m * u * r
        else:
            on_spike = on_spike + carry * (1 - theta_m)
            if INTRA:
                on_spike = on_spike + carry * theta_m * threshold * r
        delta = tl.where(spiked, on_spike, carry * (1 - theta_m))
        carry = delta
        f = tl.exp(tl.minimum(tl.maximum((-1 * u + threshold) / 0.2, -8.0), 8.0))  # WARMUP_SLOPE
        f = f / ((1 + f) * (1 + f) * 0.2)
        if LAYER_WARMUP:
            result = tl.where(layer_warm, big_g * f, delta)
        else:
            result = tl.where(code < 0, big_g * f, delta)
        tl.store(out_ptr + idx, result.to(out_ptr.dtype.element_ty), mask=mask)


assert WARMUP_SLOPE == 0.2 and INV_DU_CAP == 8.0, "constants are inlined in the kernels above"


class _TSSLBPTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, params):  # type: ignore[override]
        x, steps, m = time_major(current)
        psc = torch.empty_like(x)
        u = torch.empty(x.shape, dtype=torch.float32, device=x.device)
        code = torch.empty_like(u)
        launch(_tsslbp_fwd_kernel, m, steps, x, psc, u, code, m, steps, 1.0 / params.tau_m, 1.0 / params.tau_s,
               params.threshold, 1.0 / (4 * params.tau_s), block=BLOCK, RESET_ZERO=params.reset == "zero")
        ctx.save_for_backward(u, code)
        ctx.params = params
        return psc

    @staticmethod
    def backward(ctx, grad_psc):  # type: ignore[override]
        u, code = ctx.saved_tensors
        p: TSSLBPParams = ctx.params
        g, steps, m = time_major(grad_psc)
        grad = torch.empty_like(g)
        layer = p.warmup == "layer_switch"
        flag = ((code > 0).float().mean() <= p.warmup_rate).to(torch.int32) if layer else u  # u: unused pointer
        launch(_tsslbp_bwd_kernel, m, steps, g, u, code, grad, flag, m, steps, 1.0 / p.tau_m, 1.0 / p.tau_s,
               p.threshold, block=BLOCK, RESET_ZERO=p.reset == "zero", INTRA=p.intra, LAYER_WARMUP=layer)
        return grad, None


def tsslbp_triton(current: torch.Tensor, params: TSSLBPParams) -> torch.Tensor:
    """TSSL-BP neuron, fused Triton backend: PSC ``[T, ...]`` (dtype of ``current``)."""
    return _TSSLBPTriton.apply(current, params)

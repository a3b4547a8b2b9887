"""SLAYER's spike generation, fused Triton backend: the refractory scan in one launch (and, with
``exact_reset``, its reverse-time backward in one launch). Same equations and the same order of
additions as the PyTorch reference in :mod:`snnbench.kernels.srm`, so spikes agree bit for bit.

Layout: ``u`` is viewed as ``[T, M]``; one program owns ``BLOCK`` neurons and loops over time. The
refractory contributions still to come live in a register ring ``[BLOCK, KP]`` (KP = the next power
of two ≥ the ν taps): slot (t + j) mod KP holds what step t + j will receive. A spike at t adds ν[j]
to slot (t + j) mod KP; step t reads and clears its own slot. The backward keeps the last KP values
of g_u in the same kind of ring and takes their ν-weighted sum.

Saved for the backward: ρ(u_t) in float32 (4 bytes per neuron-step); spikes are not saved.
Float contraction (FMA) is disabled so the sums round as in the reference.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .launch import launch, time_major
from .srm import SRMParams, refractory_kernel

BLOCK = 128


@triton.jit
def _srm_fwd_kernel(u_ptr, nu_ptr, s_ptr, rho_ptr, M, T, K, theta, inv_ts, rho_scale, rho_tau,
                    BLOCK: tl.constexpr, KP: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    slots = tl.arange(0, KP)
    pending = tl.zeros([BLOCK, KP], tl.float32)
    for t in range(T):
        idx = t * M + offs
        here = slots[None, :] == t % KP
        ref = tl.sum(tl.where(here, pending, 0.0), axis=1)
        pending = tl.where(here, 0.0, pending)
        u = tl.load(u_ptr + idx, mask=mask, other=0.0).to(tl.float32) + ref
        z = (u >= theta).to(tl.float32)
        tl.store(s_ptr + idx, (z * inv_ts).to(s_ptr.dtype.element_ty), mask=mask)
        tl.store(rho_ptr + idx, rho_scale * tl.exp(-tl.abs(u - theta) / rho_tau), mask=mask)
        lag = (slots - t % KP + KP) % KP  # slot j holds step t + lag[j]
        nu = tl.load(nu_ptr + lag, mask=lag < K, other=0.0)
        pending = pending + z[:, None] * nu[None, :]


@triton.jit
def _srm_bwd_kernel(g_ptr, rho_ptr, nu_ptr, out_ptr, M, T, K, ts, BLOCK: tl.constexpr, KP: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    slots = tl.arange(0, KP)
    later = tl.zeros([BLOCK, KP], tl.float32)  # slot (t' mod KP) holds g_u[t'] for t < t' < t + KP
    for i in range(T):
        t = T - 1 - i
        idx = t * M + offs
        lag = (slots - t % KP + KP) % KP
        nu = tl.load(nu_ptr + lag, mask=(lag > 0) & (lag < K), other=0.0) * ts
        carry = tl.sum(later * nu[None, :], axis=1)
        g = tl.load(g_ptr + idx, mask=mask, other=0.0).to(tl.float32)
        rho = tl.load(rho_ptr + idx, mask=mask, other=0.0)
        gu = rho * (g + carry)
        tl.store(out_ptr + idx, gu.to(out_ptr.dtype.element_ty), mask=mask)
        later = tl.where(slots[None, :] == t % KP, gu[:, None], later)


def _ring(taps: int) -> int:
    return max(2, triton.next_power_of_2(taps))


class _SRMTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, params):  # type: ignore[override]
        x, steps, m = time_major(u)
        nu = refractory_kernel(params).to(device=x.device, dtype=torch.float32)
        spikes = torch.empty_like(x)
        rho = torch.empty(x.shape, dtype=torch.float32, device=x.device)
        launch(_srm_fwd_kernel, m, steps, x, nu, spikes, rho, m, steps, len(nu), params.theta, 1.0 / params.ts,
               params.rho_scale, params.rho_tau, block=BLOCK, KP=_ring(len(nu)))
        ctx.save_for_backward(rho, nu)
        ctx.params, ctx.dtype = params, u.dtype
        return spikes

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        rho, nu = ctx.saved_tensors
        params = ctx.params
        if not params.exact_reset:
            return (grad.float() * rho).to(ctx.dtype), None
        g, steps, m = time_major(grad)
        out = torch.empty(g.shape, dtype=ctx.dtype, device=g.device)
        launch(_srm_bwd_kernel, m, steps, g, rho, nu, out, m, steps, len(nu), params.ts, block=BLOCK,
               KP=_ring(len(nu)))
        return out, None


def srm_spikes_triton(u: torch.Tensor, params: SRMParams) -> torch.Tensor:
    """Spikes (0 or 1/ts) from potentials ``u`` ``[T, ...]``; fused Triton scan (see module docstring)."""
    return _SRMTriton.apply(u, params)


__all__ = ["srm_spikes_triton"]

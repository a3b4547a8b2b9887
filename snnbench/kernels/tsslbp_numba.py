"""The TSSL-BP neuron of :mod:`snnbench.kernels.tsslbp` compiled for the CPU with Numba.

:func:`~snnbench.kernels.tsslbp.tsslbp_forward` and :func:`~snnbench.kernels.tsslbp.tsslbp_backward` run
about 8 and 20 PyTorch operations per time step, each a pass over the layer with a temporary; these loops
make one pass per step and do the same float32 operations in the same order (each product and sum rounded
on its own, as PyTorch's separate kernels round them; the Python constants cast to float32 where PyTorch
casts them), so PSCs and gradients are bit for bit the reference's (tests/test_tsslbp_numba.py). The
warm-up's σ′ is computed in the loop around one PyTorch call: its ``exp``, whose last bit differs between
libraries, is PyTorch's, on the argument the loop computes as the reference does (the rest of the reference's
ten passes over the layer are the loop's float32 operations in the same order). The ``layer_switch`` warm-up
ablation stays on the reference.
"""

from __future__ import annotations

import numpy as np
import torch

from .numba_jit import jit, time_rows
from .tsslbp import INV_DU_CAP, WARMUP_SLOPE, TSSLBPParams, tsslbp_backward, tsslbp_with


@jit
def _forward(x, neg_theta_m, theta_s, threshold, zero_reset, psc, membrane, updates):  # noqa: ANN001, ANN202
    steps, n = x.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    mem = np.zeros(n, dtype=np.float32)
    syn = np.zeros(n, dtype=np.float32)
    for t in range(steps):  # time outside, neurons inside: the neuron loop vectorises
        for i in range(n):
            update = neg_theta_m * mem[i] + x[t, i]  # (−θm)·ũ, then + I: two roundings, as PyTorch's two kernels
            u = mem[i] + update
            out = one if u > threshold else zero
            membrane[t, i] = u
            updates[t, i] = update
            mem[i] = u * (one - out) if zero_reset else u - threshold * out
            syn[i] = syn[i] + (out - syn[i]) * theta_s
            psc[t, i] = syn[i]


@jit
def _warmup_argument(membrane, threshold, slope, out):  # noqa: ANN001, ANN202
    """clamp((−1·u + V_th)/a, −8, 8), the argument of the warm-up sigmoid's ``exp``, as the reference computes it."""
    steps, n = membrane.shape
    low, high, minus = np.float32(-8.0), np.float32(8.0), np.float32(-1.0)
    for t in range(steps):
        for i in range(n):
            v = (minus * membrane[t, i] + threshold) / slope
            out[t, i] = v if v != v else min(max(v, low), high)  # torch.clamp keeps a NaN


@jit
def _backward(g, psc, membrane, updates, exp_arg, theta_m, theta_s, keep_s, keep_m, threshold, warm_below,
              cap, slope, zero_reset, intra, grad):  # noqa: ANN001, ANN202
    steps, n = g.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    big_g = np.zeros(n, dtype=np.float32)
    carry = np.zeros(n, dtype=np.float32)
    for t in range(steps - 1, -1, -1):
        for i in range(n):
            big_g[i] = g[t, i] * theta_s + keep_s * big_g[i]
            u = membrane[t, i]
            spike = u > threshold
            r = min(max(one / updates[t, i], zero), cap) if spike else zero  # clamp(1/Δu, 0, 8) at a spike
            on_spike = r * big_g[i]
            if zero_reset:
                if intra:
                    on_spike = on_spike + carry[i] * theta_m * u * r
            else:
                on_spike = on_spike + carry[i] * keep_m
                if intra:
                    on_spike = on_spike + carry[i] * theta_m * threshold * r
            delta = on_spike if spike else carry[i] * keep_m
            carry[i] = delta  # the carry is δ itself, before the warm-up replacement
            if psc[t, i] < warm_below:  # σ′ = f/((1 + f)·(1 + f)·a), f = exp(argument), as the reference rounds it
                f = exp_arg[t, i]
                grad[t, i] = big_g[i] * (f / ((one + f) * (one + f) * slope))
            else:
                grad[t, i] = delta


def tsslbp_forward_numba(current: torch.Tensor, p: TSSLBPParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`~snnbench.kernels.tsslbp.tsslbp_forward` on a CPU tensor ``[T, ...]``: ``(psc, u, Δu)``."""
    if current.device.type != "cpu":
        raise ValueError(f"the numba TSSL-BP scan runs on CPU tensors, got device {current.device}")
    x = time_rows(current)
    psc, membrane, updates = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    _forward(x, np.float32(-(1.0 / p.tau_m)), np.float32(1.0 / p.tau_s), np.float32(p.threshold), p.reset == "zero",
             psc, membrane, updates)
    shape = current.shape
    return (torch.from_numpy(psc).view(shape), torch.from_numpy(membrane).view(shape),
            torch.from_numpy(updates).view(shape))


def tsslbp_backward_numba(grad_psc: torch.Tensor, psc: torch.Tensor, membrane: torch.Tensor, updates: torch.Tensor,
                          p: TSSLBPParams) -> torch.Tensor:
    """:func:`~snnbench.kernels.tsslbp.tsslbp_backward` (element warm-up) on CPU tensors: ∂L/∂I ``[T, ...]``."""
    if p.warmup != "element":
        return tsslbp_backward(grad_psc, psc, membrane, updates, p)
    theta_m, theta_s = 1.0 / p.tau_m, 1.0 / p.tau_s
    rows = time_rows(membrane)
    grad = np.empty_like(rows)
    # the constants as PyTorch casts each against a float32 tensor (the Python expression, then float32)
    slope = np.float32(WARMUP_SLOPE)
    exp_arg = np.empty_like(rows)
    _warmup_argument(rows, np.float32(p.threshold), slope, exp_arg)
    torch.from_numpy(exp_arg).exp_()  # PyTorch's exp, in place: the only libm call of the warm-up's σ′
    _backward(time_rows(grad_psc), time_rows(psc), rows, time_rows(updates), exp_arg, np.float32(theta_m),
              np.float32(theta_s), np.float32(1 - theta_s), np.float32(1 - theta_m), np.float32(p.threshold),
              np.float32(1.0 / (4 * p.tau_s)), np.float32(INV_DU_CAP), slope, p.reset == "zero", p.intra, grad)
    return torch.from_numpy(grad).view(membrane.shape)


def tsslbp_numba(current: torch.Tensor, params: TSSLBPParams) -> torch.Tensor:
    """:func:`~snnbench.kernels.tsslbp.tsslbp_torch` with the compiled scans (CPU tensors)."""
    return tsslbp_with(current, params, tsslbp_forward_numba, tsslbp_backward_numba)


def warm() -> None:
    """Compile both scans for the argument types :func:`tsslbp_numba` passes (:func:`~.numba_jit.warm`)."""
    params = TSSLBPParams(tau_m=5.0, tau_s=3.0)
    psc, membrane, updates = tsslbp_forward_numba(torch.zeros(2, 3), params)
    tsslbp_backward_numba(psc, psc, membrane, updates, params)


__all__ = ["tsslbp_backward_numba", "tsslbp_forward_numba", "tsslbp_numba", "warm"]

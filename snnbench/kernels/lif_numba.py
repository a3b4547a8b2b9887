"""The LIF scan of :mod:`snnbench.kernels.lif` compiled for the CPU with Numba (STBP, STBP-tdBN, TET).

:func:`~snnbench.kernels.lif.lif_forward` and :func:`~snnbench.kernels.lif.lif_backward` run 3 and 6
PyTorch operations per time step, each a pass over the layer's neurons with a temporary; these loops make
one pass per step with no temporary and do the same float32 operations in the same order, so spikes,
membranes and gradients are bit for bit the reference's (tests/test_lif_numba.py):

- forward: u_t = fma(ũ_{t−1}, decay, I_t), the fused multiply-add that ``torch.add(I, ũ, alpha=decay)``
  computes (its vectorised CPU loop is ``vec::fmadd``), then s_t = [u_t > V_th];
- backward: a = decay·δ_{t+1}, g = ∂L/∂s_t − a·u_t (zero reset) or − V_th·a (subtract), δ_t = g·σ'_t + a
  (masked where u_t > V_th for the zero reset), each product and sum rounded on its own as PyTorch's
  separate kernels round it; σ' is computed in the loop for the rectangle and triangle surrogates (the
  same float32 expressions as :func:`~snnbench.kernels.surrogate.surrogate_grad`) and by PyTorch for the
  others.
"""

from __future__ import annotations

import numpy as np
import torch

from .lif import LIFParams, lif_with
from .numba_jit import AVAILABLE, jit, time_rows
from .surrogate import surrogate_grad

INLINE_SURROGATES = {"rectangle": 1, "triangle": 2}  # σ' computed in the loop; the others come from PyTorch

if AVAILABLE:
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def _fma(typingctx, a, b, c):  # noqa: ANN001, ANN202 - llvm.fma: a·b + c rounded once
        def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
            return builder.fma(*args)

        return types.float32(types.float32, types.float32, types.float32), codegen
else:  # pragma: no cover - without numba the loops below are plain Python and never called
    def _fma(a, b, c):  # noqa: ANN001, ANN202
        return np.float32(np.float64(a) * np.float64(b) + np.float64(c))


@jit
def _forward(current, decay, threshold, zero_reset, membrane, spikes):  # noqa: ANN001, ANN202
    steps, n = current.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    for i in range(n):
        u = current[0, i]
        membrane[0, i] = u
        spikes[0, i] = one if u > threshold else zero
    for t in range(1, steps):  # the reset's branch outside the neuron loop, which then vectorises
        if zero_reset:
            for i in range(n):
                kept = zero if spikes[t - 1, i] > zero else membrane[t - 1, i]
                u = _fma(kept, decay, current[t, i])
                membrane[t, i] = u
                spikes[t, i] = one if u > threshold else zero
        else:
            for i in range(n):
                kept = membrane[t - 1, i] - threshold * spikes[t - 1, i]
                u = _fma(kept, decay, current[t, i])
                membrane[t, i] = u
                spikes[t, i] = one if u > threshold else zero


@jit
def _surrogate_row(membrane, threshold, kind, half, width, width2, given, out):  # noqa: ANN001, ANN202
    """σ'(u − V_th) of one time step into ``out``: rectangle (kind 1), triangle (kind 2), else ``given``."""
    zero = np.float32(0.0)
    if kind == 1:
        inverse = np.float32(1.0) / width  # PyTorch's [|x| < w/2] / w: 1/w or 0/w
        for i in range(out.shape[0]):
            out[i] = inverse if abs(membrane[i] - threshold) < half else zero
    elif kind == 2:
        for i in range(out.shape[0]):
            v = width - abs(membrane[i] - threshold)
            out[i] = (v if v > zero else zero) / width2
    else:
        out[:] = given


@jit
def _backward(grad_spikes, membrane, threshold, decay, zero_reset, detach_reset, kind, half, width, width2,
              given, grad_current):  # noqa: ANN001, ANN202
    steps, n = grad_spikes.shape
    zero = np.float32(0.0)
    sg = np.empty(n, dtype=np.float32)
    for t in range(steps - 1, -1, -1):  # each branch outside the neuron loop, which then vectorises
        _surrogate_row(membrane[t], threshold, kind, half, width, width2, given[t], sg)
        if t == steps - 1:
            for i in range(n):
                grad_current[t, i] = grad_spikes[t, i] * sg[i]
        elif zero_reset and detach_reset:
            for i in range(n):
                a = decay * grad_current[t + 1, i]
                grad_current[t, i] = grad_spikes[t, i] * sg[i] + (zero if membrane[t, i] > threshold else a)
        elif zero_reset:
            for i in range(n):
                a = decay * grad_current[t + 1, i]
                u = membrane[t, i]
                g = grad_spikes[t, i] - a * u
                grad_current[t, i] = g * sg[i] + (zero if u > threshold else a)
        elif detach_reset:
            for i in range(n):
                a = decay * grad_current[t + 1, i]
                grad_current[t, i] = grad_spikes[t, i] * sg[i] + a
        else:
            for i in range(n):
                a = decay * grad_current[t + 1, i]
                g = grad_spikes[t, i] - threshold * a
                grad_current[t, i] = g * sg[i] + a


def lif_forward_numba(current: torch.Tensor, params: LIFParams) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`~snnbench.kernels.lif.lif_forward` on a float32 CPU tensor ``[T, ...]``: ``(spikes, membrane)``."""
    if current.device.type != "cpu" or current.dtype != torch.float32:
        raise ValueError(f"the numba LIF scan runs on float32 CPU tensors, got {current.dtype} on {current.device}")
    flat = time_rows(current)
    membrane, spikes = np.empty_like(flat), np.empty_like(flat)
    _forward(flat, np.float32(params.decay), np.float32(params.threshold), params.reset == "zero", membrane, spikes)
    return torch.from_numpy(spikes).view(current.shape), torch.from_numpy(membrane).view(current.shape)


def lif_backward_numba(grad_spikes: torch.Tensor, membrane: torch.Tensor, params: LIFParams) -> torch.Tensor:
    """:func:`~snnbench.kernels.lif.lif_backward` on float32 CPU tensors: ∂L/∂I ``[T, ...]``."""
    kind = INLINE_SURROGATES.get(params.surrogate, 0)
    flat_membrane = time_rows(membrane)
    given = (time_rows(surrogate_grad(membrane - params.threshold, params.surrogate, params.width)) if kind == 0
             else np.empty((membrane.shape[0], 0), dtype=np.float32))  # rows of nothing: computed in the loop
    grad_current = np.empty_like(flat_membrane)
    # the scalars as PyTorch casts them against a float32 tensor: width/2, width and width² each rounded once
    _backward(time_rows(grad_spikes), flat_membrane, np.float32(params.threshold), np.float32(params.decay),
              params.reset == "zero", params.detach_reset, kind, np.float32(params.width / 2),
              np.float32(params.width), np.float32(params.width * params.width), given, grad_current)
    return torch.from_numpy(grad_current).view(membrane.shape)


def lif_numba(current: torch.Tensor, params: LIFParams) -> torch.Tensor:
    """:func:`~snnbench.kernels.lif.lif_torch` with the compiled scans (float32 CPU tensors)."""
    return lif_with(current, params, lif_forward_numba, lif_backward_numba)


def warm() -> None:
    """Compile both scans for the argument types :func:`lif_numba` passes (:func:`~.numba_jit.warm`)."""
    spikes, membrane = lif_forward_numba(torch.zeros(2, 3), LIFParams())
    lif_backward_numba(spikes, membrane, LIFParams())


__all__ = ["lif_backward_numba", "lif_forward_numba", "lif_numba", "warm"]

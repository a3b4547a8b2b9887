"""Multi-step leaky integrate-and-fire scan, time-major, shared by STBP and TET.

Reference semantics (one step, all element-wise)::

    ũ_{t-1} = u_{t-1}·(1 − s_{t-1})          reset="zero" (a hard reset)
            = u_{t-1} − V_th·s_{t-1}          reset="subtract" (a soft reset)
    u_t     = decay·ũ_{t-1} + I_t
    s_t     = H(u_t − V_th)                   strict ">"; surrogate gradient in backward

with u_0 = s_0 = 0. With the zero reset this is STBP's ``u_t = decay·u_{t−1}·(1 − s_{t−1}) + W x_t``
and TET's ``u ← 0.5·u + x; s = H(u − 1); u ← (1 − s)·u``. The gradient flows through the reset
term unless ``detach_reset`` is set.

Two PyTorch implementations live here:

- :func:`lif_scan_autograd`: the equations above, step by step, differentiated by autograd.
  The readable reference that everything else is tested against.
- :func:`lif_torch`: the same forward, with an explicit reverse-time backward scan (saves only the
  membrane ``u``, 4 bytes per neuron-step). With a_t = decay·δ_{t+1} (0 at the last step)::

      zero:     δ_t = (g_t − a_t·u_t)·σ'(u_t − V_th) + a_t·(1 − s_t)
      subtract: δ_t = (g_t − a_t·V_th)·σ'(u_t − V_th) + a_t

  where g_t = ∂L/∂s_t and δ_t = ∂L/∂u_t = ∂L/∂I_t (the reset terms a_t·u_t, a_t·V_th vanish with
  ``detach_reset``). This is the form the fused Triton kernels implement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .surrogate import SURROGATES, spike, surrogate_grad

RESETS = ("zero", "subtract")  # the one reset vocabulary of the suite's neurons (TSSL-BP, ST-RSBP too)


@dataclass(frozen=True)
class LIFParams:
    """Parameters of the multi-step LIF scan."""

    decay: float = 0.2
    threshold: float = 0.5
    reset: str = "zero"
    detach_reset: bool = False
    surrogate: str = "rectangle"
    width: float = 1.0

    def __post_init__(self) -> None:
        if self.reset not in RESETS:
            raise ValueError(f"unknown reset {self.reset!r}; valid resets: {', '.join(RESETS)}")
        if self.surrogate not in SURROGATES:
            raise ValueError(f"unknown surrogate {self.surrogate!r}; valid surrogates: {', '.join(SURROGATES)}")


def lif_scan_autograd(current: torch.Tensor, params: LIFParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference: run the scan over the leading time axis of ``current`` ``[T, ...]`` with autograd.

    Returns ``(spikes, membrane)``, both ``[T, ...]``; ``membrane`` is the pre-reset potential u_t.
    """
    u = torch.zeros_like(current[0])
    s = torch.zeros_like(current[0])
    spikes, membrane = [], []
    for t in range(current.shape[0]):
        s_prev = s.detach() if params.detach_reset else s
        kept = u * (1 - s_prev) if params.reset == "zero" else u - params.threshold * s_prev
        u = params.decay * kept + current[t]
        s = spike(u - params.threshold, params.surrogate, params.width)
        spikes.append(s)
        membrane.append(u)
    return torch.stack(spikes), torch.stack(membrane)


def lif_forward(current: torch.Tensor, params: LIFParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward scan without autograd: ``(spikes, membrane)``, both ``[T, ...]``."""
    membrane = torch.empty_like(current)
    spikes = torch.empty_like(current)
    for t in range(current.shape[0]):
        if t == 0:
            membrane[0] = current[0]
        else:
            if params.reset == "zero":
                kept = membrane[t - 1].masked_fill(spikes[t - 1] > 0, 0.0)
            else:
                kept = membrane[t - 1] - params.threshold * spikes[t - 1]
            torch.add(current[t], kept, alpha=params.decay, out=membrane[t])
        torch.gt(membrane[t], params.threshold, out=spikes[t])
    return spikes, membrane


def lif_backward(grad_spikes: torch.Tensor, membrane: torch.Tensor, params: LIFParams) -> torch.Tensor:
    """Reverse-time scan: ∂L/∂I ``[T, ...]`` from ∂L/∂s and the saved membrane (module docstring)."""
    sg = surrogate_grad(membrane - params.threshold, params.surrogate, params.width)
    grad_current = torch.empty_like(grad_spikes)
    for t in range(grad_spikes.shape[0] - 1, -1, -1):
        if t == grad_spikes.shape[0] - 1:
            torch.mul(grad_spikes[t], sg[t], out=grad_current[t])
            continue
        a = params.decay * grad_current[t + 1]
        if params.reset == "zero":
            g = grad_spikes[t] if params.detach_reset else grad_spikes[t] - a * membrane[t]
            grad_current[t] = g * sg[t] + a.masked_fill(membrane[t] > params.threshold, 0.0)
        else:
            g = grad_spikes[t] if params.detach_reset else grad_spikes[t] - params.threshold * a
            grad_current[t] = g * sg[t] + a
    return grad_current


ForwardScan = Callable[[torch.Tensor, LIFParams], tuple[torch.Tensor, torch.Tensor]]
BackwardScan = Callable[[torch.Tensor, torch.Tensor, LIFParams], torch.Tensor]


class _LIFScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current: torch.Tensor, params: LIFParams, forward_scan: ForwardScan,  # type: ignore[override]
                backward_scan: BackwardScan) -> torch.Tensor:
        spikes, membrane = forward_scan(current, params)
        ctx.save_for_backward(membrane)
        ctx.params, ctx.backward_scan = params, backward_scan
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes: torch.Tensor):  # type: ignore[override]
        (membrane,) = ctx.saved_tensors
        return ctx.backward_scan(grad_spikes.contiguous(), membrane, ctx.params), None, None, None


def lif_with(current: torch.Tensor, params: LIFParams, forward_scan: ForwardScan,
             backward_scan: BackwardScan) -> torch.Tensor:
    """LIF spikes ``[T, ...]`` with a backend's pair of scans (:func:`lif_forward` and :func:`lif_backward` are
    the reference's): the forward saves only the membrane, the backward is the explicit reverse scan."""
    return _LIFScan.apply(current.contiguous(), params, forward_scan, backward_scan)


def lif_torch(current: torch.Tensor, params: LIFParams) -> torch.Tensor:
    """LIF spikes ``[T, ...]`` for input currents ``[T, ...]`` with the explicit backward scan (the reference)."""
    return lif_with(current, params, lif_forward, lif_backward)

"""Multi-step leaky integrate-and-fire scan, time-major, shared by STBP and TET.

Reference semantics (one step, all element-wise)::

    ũ_{t-1} = u_{t-1}·(1 − s_{t-1})          hard reset (to zero)
            = u_{t-1} − V_th·s_{t-1}          soft reset (by subtraction)
    u_t     = decay·ũ_{t-1} + I_t
    s_t     = H(u_t − V_th)                   strict ">"; surrogate gradient in backward

with u_0 = s_0 = 0. With a hard reset this is STBP's ``u_t = decay·u_{t−1}·(1 − s_{t−1}) + W x_t``
and TET's ``u ← 0.5·u + x; s = H(u − 1); u ← (1 − s)·u``. The gradient flows through the reset
term unless ``detach_reset`` is set. This module is the readable PyTorch reference; the fused
kernels of later issues are tested against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .surrogate import SURROGATES, spike

RESETS = ("hard", "soft")


@dataclass(frozen=True)
class LIFParams:
    """Parameters of the multi-step LIF scan."""

    decay: float = 0.2
    threshold: float = 0.5
    reset: str = "hard"
    detach_reset: bool = False
    surrogate: str = "rectangle"
    width: float = 1.0

    def __post_init__(self) -> None:
        if self.reset not in RESETS:
            raise ValueError(f"unknown reset {self.reset!r}; valid resets: {', '.join(RESETS)}")
        if self.surrogate not in SURROGATES:
            raise ValueError(f"unknown surrogate {self.surrogate!r}; valid surrogates: {', '.join(SURROGATES)}")


def lif_scan(current: torch.Tensor, params: LIFParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the LIF scan over the leading time axis of ``current`` ``[T, ...]``.

    Returns ``(spikes, membrane)``, both ``[T, ...]``; ``membrane`` is the pre-reset potential u_t.
    Differentiable through the surrogate (and the reset, unless ``params.detach_reset``).
    """
    u = torch.zeros_like(current[0])
    s = torch.zeros_like(current[0])
    spikes, membrane = [], []
    for t in range(current.shape[0]):
        s_prev = s.detach() if params.detach_reset else s
        kept = u * (1 - s_prev) if params.reset == "hard" else u - params.threshold * s_prev
        u = params.decay * kept + current[t]
        s = spike(u - params.threshold, params.surrogate, params.width)
        spikes.append(s)
        membrane.append(u)
    return torch.stack(spikes), torch.stack(membrane)

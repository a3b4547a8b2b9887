"""TSSL-BP neuron (Zhang & Li 2020), PyTorch reference backend, faithful to stonezwr/TSSL-BP HEAD.

Zhang & Li, "Temporal spike sequence learning via backpropagation for deep spiking neural
networks", NeurIPS 2020; reference code stonezwr/TSSL-BP (``functions/tsslbp.py``).
Time-major: ``current`` is ``[T, ...]``.

Forward (θm = 1/τm, θs = 1/τs, zero initial state; the reference's order of operations)::

    Δu_t = (−θm)·ũ_{t−1} + I_t
    u_t  = ũ_{t−1} + Δu_t                 pre-reset potential
    s_t  = [u_t > V_th]                   strict
    ũ_t  = u_t·(1 − s_t)                  reset to zero          (ablation: u_t − V_th·s_t)
    a_t  = a_{t−1} + (s_t − a_{t−1})·θs   post-synaptic current (PSC), the output

Backward: one reverse scan per neuron with two running values, O(T) instead of the reference's
Θ(T²) slice sums. With g_t = ∂L/∂a_t::

    G_t = g_t·θs + (1 − θs)·G_{t+1}                     (= Σ_{k≥t} e_{k−t}·g_k)
    r_t = s_t·clamp(1/Δu_t, 0, 8)        (the code's clamp(−1/Δu, −8, 0); Δu_t > 0 at a spike with zero reset)
    spike step:     δ_t = r_t·G_t + C·θm·u_t·r_t        (inter-neuron + intra-neuron/reset term)
    non-spike step: δ_t = C·(1 − θm)                    (leak path to the next spike)
    carry:          C  ← δ_t on a spike, else C·(1 − θm)  (i.e. C ← δ_t at every step)
    warm-up:        where a_t < 1/(4τs): δ_t ← G_t·σ′, σ′ = e^{−z}/((1 + e^{−z})²·0.2),
                    z = clamp((u_t − V_th)/0.2, −8, 8)

and δ_t = ∂L/∂I_t is returned. The carry takes δ before the warm-up replacement.

Ablations (not in the reference at HEAD; see :class:`TSSLBPParams`):

- ``intra=False`` drops the C·θm·u_t·r_t term.
- ``reset="subtract"`` (the paper's eq. 4): the potential keeps u_t − V_th after a spike, so a spike
  step also has the leak path C·(1 − θm), and the reset term removes V_th instead of u_t:
  δ_t = r_t·G_t + C·(1 − θm) + C·θm·V_th·r_t. This derivation is snnbench's, not the authors'.
  A neuron can then stay above threshold while its potential falls (Δu_t ≤ 0); the clamp gives
  r_t = 0 there, so such a step passes only the leak path, like a non-spike step.
- ``warmup="layer_switch"``: no per-element rule; the whole layer uses the surrogate δ_t = G_t·σ′
  while its mean firing rate (spikes per neuron-step, over the batch) is at most ``warmup_rate``,
  and HEAD's TSSL-BP value everywhere otherwise. Only the *switch* resembles the paper-era code
  (``6e40449``, rate > 0.1); that code's backward (gradient at spike steps only, × clamp(1/Δu, ±10),
  the intra term through T×T ``delta_refs``, no leak path) is not implemented, so this ablation is
  not a reproduction of the paper-era rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .lif import RESETS

WARMUP_SLOPE = 0.2  # the reference's "a"
INV_DU_CAP = 8.0  # the reference clamps −1/Δu to [−8, 0]
WARMUPS = ("element", "layer_switch")


@dataclass(frozen=True)
class TSSLBPParams:
    """Constants of the TSSL-BP neuron; the defaults are the reference code at HEAD."""

    tau_m: float
    tau_s: float
    threshold: float = 1.0
    intra: bool = True
    reset: str = "zero"
    warmup: str = "element"
    warmup_rate: float = 0.05

    def __post_init__(self) -> None:
        if self.tau_m <= 1 or self.tau_s <= 1:
            raise ValueError(f"tau_m and tau_s must be > 1 time step, got tau_m={self.tau_m}, tau_s={self.tau_s}")
        if self.reset not in RESETS:
            raise ValueError(f"unknown reset {self.reset!r}; valid resets: {', '.join(RESETS)}")
        if self.warmup not in WARMUPS:
            raise ValueError(f"unknown warmup {self.warmup!r}; valid warm-up rules: {', '.join(WARMUPS)}")


def tsslbp_forward(current: torch.Tensor, p: TSSLBPParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward scan in float32: returns ``(psc, membrane u, membrane update Δu)``, each ``[T, ...]``."""
    theta_m, theta_s = 1.0 / p.tau_m, 1.0 / p.tau_s
    x = current.float()
    mem = torch.zeros_like(x[0])
    syn = torch.zeros_like(x[0])
    psc = torch.empty_like(x)
    membrane = torch.empty_like(x)
    updates = torch.empty_like(x)
    for t in range(x.shape[0]):
        update = (-theta_m) * mem + x[t]
        mem = mem + update
        out = (mem > p.threshold).float()
        membrane[t] = mem
        updates[t] = update
        mem = mem * (1 - out) if p.reset == "zero" else mem - p.threshold * out
        syn = syn + (out - syn) * theta_s
        psc[t] = syn
    return psc, membrane, updates


def warmup_surrogate(membrane: torch.Tensor, threshold: float) -> torch.Tensor:
    """σ′ of the warm-up rule: the sigmoid's derivative with slope 0.2, argument clamped to ±8."""
    f = torch.exp(torch.clamp((-1 * membrane + threshold) / WARMUP_SLOPE, -8, 8))
    return f / ((1 + f) * (1 + f) * WARMUP_SLOPE)


def tsslbp_backward(grad_psc: torch.Tensor, psc: torch.Tensor, membrane: torch.Tensor, updates: torch.Tensor,
                    p: TSSLBPParams) -> torch.Tensor:
    """Reverse scan: ∂L/∂I ``[T, ...]`` (float32) from ∂L/∂a and the saved forward state."""
    theta_m, theta_s = 1.0 / p.tau_m, 1.0 / p.tau_s
    g = grad_psc.float()
    spikes = membrane > p.threshold
    if p.warmup == "element":
        warm = psc < 1.0 / (4 * p.tau_s)
    else:
        layer_warm = spikes.float().mean() <= p.warmup_rate
        warm = layer_warm.expand_as(spikes)
    grad = torch.empty_like(g)
    big_g = torch.zeros_like(g[0])
    carry = torch.zeros_like(g[0])
    for t in range(g.shape[0] - 1, -1, -1):
        big_g = g[t] * theta_s + (1 - theta_s) * big_g
        r = torch.where(spikes[t], torch.clamp(1.0 / updates[t], 0.0, INV_DU_CAP), torch.zeros_like(big_g))
        on_spike = r * big_g
        if p.reset == "zero":
            if p.intra:
                on_spike = on_spike + carry * theta_m * membrane[t] * r
        else:
            on_spike = on_spike + carry * (1 - theta_m)
            if p.intra:
                on_spike = on_spike + carry * theta_m * p.threshold * r
        delta = torch.where(spikes[t], on_spike, carry * (1 - theta_m))
        carry = delta  # the carry rule (δ on a spike, else C·(1 − θm)) is δ itself, before warm-up
        grad[t] = torch.where(warm[t], big_g * warmup_surrogate(membrane[t], p.threshold), delta)
    return grad


ForwardScan = Callable[[torch.Tensor, TSSLBPParams], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
BackwardScan = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, TSSLBPParams], torch.Tensor]


class _TSSLBPScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, params, forward_scan, backward_scan):  # type: ignore[override]
        psc, membrane, updates = forward_scan(current, params)
        ctx.save_for_backward(psc, membrane, updates)
        ctx.params, ctx.dtype, ctx.backward_scan = params, current.dtype, backward_scan
        return psc.to(current.dtype)

    @staticmethod
    def backward(ctx, grad_psc):  # type: ignore[override]
        psc, membrane, updates = ctx.saved_tensors
        grad = ctx.backward_scan(grad_psc, psc, membrane, updates, ctx.params)
        return grad.to(ctx.dtype), None, None, None


def tsslbp_with(current: torch.Tensor, params: TSSLBPParams, forward_scan: ForwardScan,
                backward_scan: BackwardScan) -> torch.Tensor:
    """TSSL-BP neurons with a backend's pair of scans (:func:`tsslbp_forward` and :func:`tsslbp_backward` are
    the reference's): the forward in float32, saving the PSC, the membrane and its updates."""
    return _TSSLBPScan.apply(current, params, forward_scan, backward_scan)


def tsslbp_torch(current: torch.Tensor, params: TSSLBPParams) -> torch.Tensor:
    """TSSL-BP neuron, PyTorch backend: PSC ``[T, ...]`` for synaptic input ``[T, ...]``."""
    return tsslbp_with(current, params, tsslbp_forward, tsslbp_backward)


def spikes_from_psc(psc: torch.Tensor, tau_s: float) -> torch.Tensor:
    """Recover the spike train ``[T, ...]`` from a PSC trace: s_t = (a_t − a_{t−1})·τs + a_{t−1}.

    Exact up to rounding (rounded to 0/1 here); used for firing statistics, which never keep spikes.
    """
    a = psc.float()
    prev = torch.cat([torch.zeros_like(a[:1]), a[:-1]])
    return ((a - prev) * tau_s + prev > 0.5).to(psc.dtype)

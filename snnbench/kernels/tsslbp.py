"""TSSL-BP neuron (Zhang & Li 2020), PyTorch reference backend, faithful to stonezwr/TSSL-BP HEAD.

Spec: shared/specs/tsslbp.md §1 and §3. Time-major: ``current`` is ``[T, ...]``.

Forward (θm = 1/τm, θs = 1/τs, zero initial state; the reference's order of operations)::

    Δu_t = (−θm)·ũ_{t−1} + I_t
    u_t  = ũ_{t−1} + Δu_t                 pre-reset potential
    s_t  = [u_t > V_th]                   strict
    ũ_t  = u_t·(1 − s_t)                  reset to zero
    a_t  = a_{t−1} + (s_t − a_{t−1})·θs   post-synaptic current (PSC), the output

Backward: one reverse scan per neuron with two running values, O(T) instead of the reference's
Θ(T²) slice sums. With g_t = ∂L/∂a_t::

    G_t = g_t·θs + (1 − θs)·G_{t+1}                     (= Σ_{k≥t} e_{k−t}·g_k)
    r_t = s_t·min(1/Δu_t, 8)
    spike step:     δ_t = r_t·G_t + C·θm·u_t·r_t        (inter-neuron + intra-neuron/reset term)
    non-spike step: δ_t = C·(1 − θm)                    (leak path to the next spike)
    carry:          C  ← δ_t on a spike, else C·(1 − θm)  (i.e. C ← δ_t at every step)
    warm-up:        where a_t < 1/(4τs): δ_t ← G_t·σ′, σ′ = e^{−z}/((1 + e^{−z})²·0.2),
                    z = clamp((u_t − V_th)/0.2, −8, 8)

and δ_t = ∂L/∂I_t is returned. The carry takes δ before the warm-up replacement.
"""

from __future__ import annotations

import torch

WARMUP_SLOPE = 0.2  # the reference's "a"
INV_DU_CAP = 8.0  # the reference clamps −1/Δu to [−8, 0]


def tsslbp_forward(current: torch.Tensor, tau_m: float, tau_s: float, threshold: float
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward scan in float32: returns ``(psc, membrane u, membrane update Δu)``, each ``[T, ...]``."""
    theta_m, theta_s = 1.0 / tau_m, 1.0 / tau_s
    x = current.float()
    mem = torch.zeros_like(x[0])
    syn = torch.zeros_like(x[0])
    psc = torch.empty_like(x)
    membrane = torch.empty_like(x)
    updates = torch.empty_like(x)
    for t in range(x.shape[0]):
        update = (-theta_m) * mem + x[t]
        mem = mem + update
        out = (mem > threshold).float()
        membrane[t] = mem
        updates[t] = update
        mem = mem * (1 - out)
        syn = syn + (out - syn) * theta_s
        psc[t] = syn
    return psc, membrane, updates


def tsslbp_backward(grad_psc: torch.Tensor, psc: torch.Tensor, membrane: torch.Tensor, updates: torch.Tensor,
                    tau_m: float, tau_s: float, threshold: float, intra: bool = True) -> torch.Tensor:
    """Reverse scan: ∂L/∂I ``[T, ...]`` (float32) from ∂L/∂a and the saved forward state."""
    theta_m, theta_s = 1.0 / tau_m, 1.0 / tau_s
    warm_threshold = 1.0 / (4 * tau_s)
    g = grad_psc.float()
    grad = torch.empty_like(g)
    big_g = torch.zeros_like(g[0])
    carry = torch.zeros_like(g[0])
    for t in range(g.shape[0] - 1, -1, -1):
        big_g = g[t] * theta_s + (1 - theta_s) * big_g
        spiked = membrane[t] > threshold
        r = torch.where(spiked, torch.clamp(1.0 / updates[t], max=INV_DU_CAP), torch.zeros_like(big_g))
        on_spike = r * big_g
        if intra:
            on_spike = on_spike + carry * theta_m * membrane[t] * r
        delta = torch.where(spiked, on_spike, carry * (1 - theta_m))
        carry = delta  # the carry rule (δ on a spike, else C·(1 − θm)) is δ itself, before warm-up
        f = torch.exp(torch.clamp((-1 * membrane[t] + threshold) / WARMUP_SLOPE, -8, 8))
        f = f / ((1 + f) * (1 + f) * WARMUP_SLOPE)
        grad[t] = torch.where(psc[t] < warm_threshold, big_g * f, delta)
    return grad


class _TSSLBPTorch(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, tau_m, tau_s, threshold, intra):  # type: ignore[override]
        psc, membrane, updates = tsslbp_forward(current, tau_m, tau_s, threshold)
        ctx.save_for_backward(psc, membrane, updates)
        ctx.constants = (tau_m, tau_s, threshold, intra)
        ctx.dtype = current.dtype
        return psc.to(current.dtype)

    @staticmethod
    def backward(ctx, grad_psc):  # type: ignore[override]
        psc, membrane, updates = ctx.saved_tensors
        grad = tsslbp_backward(grad_psc, psc, membrane, updates, *ctx.constants)
        return grad.to(ctx.dtype), None, None, None, None


def tsslbp_neuron_torch(current: torch.Tensor, tau_m: float, tau_s: float, threshold: float = 1.0,
                        intra: bool = True) -> torch.Tensor:
    """TSSL-BP neuron, PyTorch backend: PSC ``[T, ...]`` for synaptic input ``[T, ...]``."""
    return _TSSLBPTorch.apply(current, tau_m, tau_s, threshold, intra)

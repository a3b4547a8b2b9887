"""SLAYER's spike response model (SRM), PyTorch reference (Shrestha & Orchard,
NeurIPS 2018; reference code bamsumit/slayerPytorch, ``src/slayer.py``).

All tensors are time-major ``[T, ...]`` with bins of ``ts`` ms; a spike has amplitude ``1/ts``.

- **Kernels and PSP** live in :mod:`snnbench.kernels.filters` (the α kernel and the causal convolution,
  shared with TSSL-BP's exponential kernel). PSP: τ = τ_sr, mult = 1 (77 taps for τ_sr = 10).
  Refractory ν: τ = τ_ref, mult = −scaleRef·θ (11 taps with minimum −20 at k = 1 for θ = 10,
  scaleRef = 2, τ_ref = 1).
- **Spike generation** (``srm_spikes``): sequential in time per neuron. u_t ← u[t] + r[t] where r holds
  the refractory contributions of earlier spikes; if u_t ≥ θ emit 1/ts and add ν[j] to r[t+j]
  (the reference adds ν in place to u; the same sums, kept apart so both backends add in one order).
- **Surrogate**: ds/du = ρ(u_t) = (scaleρ/(τρ·θ))·exp(−|u_t − θ|/(τρ·θ)) at the post-refractory u_t.
  The reference multiplies the incoming gradient by ρ and stops there: the refractory dependence of
  later potentials on earlier spikes is not differentiated.
- **Exact reset** (``exact_reset=True``, the correction EXODUS made): also differentiate the
  refractory path. u_{t+j} depends on the spike z_t = ts·s_t through ν[j], so the backward becomes
  the reverse-time scan g_u[t] = ρ_t·(g_s[t] + ts·Σ_{j≥1} ν[j]·g_u[t+j]). ν < 0, so a spike's later
  suppression now pushes back on it: the gradient of a firing rate includes its self-inhibition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .filters import alpha_kernel


@dataclass(frozen=True)
class SRMParams:
    """SRM neuron constants (slayerPytorch names): θ, τ_sr, τ_ref, scaleRef, τ_ρ (relative to θ), scaleρ, Ts."""

    theta: float = 10.0
    tau_sr: float = 10.0
    tau_ref: float = 1.0
    scale_ref: float = 2.0
    tau_rho: float = 1.0
    scale_rho: float = 1.0
    ts: float = 1.0
    exact_reset: bool = False

    def __post_init__(self) -> None:
        for name in ("theta", "tau_sr", "tau_ref", "tau_rho", "scale_rho", "ts"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SRM {name} must be > 0, got {getattr(self, name)}")
        if self.scale_ref < 0:
            raise ValueError(f"SRM scale_ref must be >= 0, got {self.scale_ref}")

    @property
    def rho_tau(self) -> float:
        """τ_ρ·θ, the PDF's width in potential units."""
        return self.tau_rho * self.theta

    @property
    def rho_scale(self) -> float:
        """scaleρ/(τ_ρ·θ), the PDF's peak."""
        return self.scale_rho / self.rho_tau


def psp_kernel(params: SRMParams) -> torch.Tensor:
    """ε: the PSP kernel (τ_sr, peak 1 at t = τ_sr)."""
    return alpha_kernel(params.tau_sr, params.ts)


def refractory_kernel(params: SRMParams) -> torch.Tensor:
    """ν: the refractory kernel (τ_ref, minimum −scaleRef·θ at t = τ_ref)."""
    return alpha_kernel(params.tau_ref, params.ts, -params.scale_ref * params.theta)


# ---- spike generation with refractoriness --------------------------------------------------------------
def refractory_potential(u: torch.Tensor, nu: torch.Tensor, params: SRMParams) -> torch.Tensor:
    """Reference scan over ``u`` ``[T, M]``: u_t, the potential after the refractory contributions of
    earlier spikes. Only the neurons that fired at t receive ν (an index update), so the loop costs
    O(spikes·K) beyond the O(T·M) reads."""
    steps, m = u.shape
    taps = nu.to(device=u.device, dtype=u.dtype)[1:, None]
    k = len(taps) + 1
    pending = u.new_zeros(steps + k, m)  # refractory contributions waiting for step t
    after = torch.empty_like(u)  # u_t: the potential after the refractory contributions
    for t in range(steps):
        after[t] = u[t] + pending[t]
        fired = (after[t] >= params.theta).nonzero().squeeze(1)
        if k > 1 and fired.numel():
            pending[t + 1: t + k, fired] += taps  # ν[j]·1 for each neuron that fired
    return after


def srm_spikes_from(after: torch.Tensor, params: SRMParams) -> torch.Tensor:
    """Spikes (amplitude 1/ts) where the post-refractory potential reaches θ."""
    return (after >= params.theta).to(after.dtype) / params.ts


def srm_rho(after: torch.Tensor, params: SRMParams) -> torch.Tensor:
    """ρ(u_t) = rho_scale·exp(−|u_t − θ| / rho_tau), the spike derivative at the post-refractory potential
    (one new tensor, the other steps in place: the same float32 operations in the same order)."""
    rho = after - params.theta
    return rho.abs_().neg_().div_(params.rho_tau).exp_().mul_(params.rho_scale)


def srm_forward(u: torch.Tensor, nu: torch.Tensor, params: SRMParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference forward over ``u`` ``[T, M]``: returns spikes (amplitude 1/ts) and ρ(u_t)."""
    after = refractory_potential(u, nu, params)
    return srm_spikes_from(after, params), srm_rho(after, params)


def srm_backward(grad: torch.Tensor, rho: torch.Tensor, nu: torch.Tensor, params: SRMParams) -> torch.Tensor:
    """Reference backward: g·ρ, or with ``exact_reset`` the reverse scan through the refractory path."""
    if not params.exact_reset:
        return grad * rho
    steps, m = grad.shape
    taps = nu.to(device=grad.device, dtype=grad.dtype)[1:, None] * params.ts
    k = len(taps) + 1
    gu = grad.new_zeros(steps + k, m)
    for t in reversed(range(steps)):
        gu[t] = rho[t] * (grad[t] + (taps * gu[t + 1: t + k]).sum(0))
    return gu[:steps]


PotentialScan = Callable[[torch.Tensor, torch.Tensor, SRMParams], torch.Tensor]
# a backend's fused scan: (u [T, M], ν, params, keep_potential) -> (spikes, u_t or None), the spikes being
# srm_spikes_from(u_t) computed in the same pass
SpikeScan = Callable[[torch.Tensor, torch.Tensor, SRMParams, bool], tuple[torch.Tensor, torch.Tensor | None]]


def _scan(u: torch.Tensor, params: SRMParams, scan: PotentialScan, spike_scan: SpikeScan | None,
          keep_potential: bool) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Spikes, u_t (when ``keep_potential``) over ``u`` flattened to float32 ``[T, M]``, and ν."""
    nu = refractory_kernel(params)
    flat = u.reshape(u.shape[0], -1).float()
    if spike_scan is not None:
        spikes, after = spike_scan(flat, nu, params, keep_potential)
        return spikes, after, nu
    after = scan(flat, nu, params)
    return srm_spikes_from(after, params), after, nu


class _SRM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, params, scan, spike_scan):  # type: ignore[override]
        spikes, after, nu = _scan(u, params, scan, spike_scan, keep_potential=True)
        ctx.save_for_backward(srm_rho(after, params))
        ctx.params, ctx.nu, ctx.shape, ctx.dtype = params, nu, u.shape, u.dtype
        return spikes.to(u.dtype).reshape(u.shape)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (rho,) = ctx.saved_tensors
        g = srm_backward(grad.reshape(rho.shape).float(), rho, ctx.nu, ctx.params)
        return g.to(ctx.dtype).reshape(ctx.shape), None, None, None


def spike_value(params: SRMParams) -> float:
    """The float32 amplitude 1/ts of a spike, as :func:`srm_spikes_from` computes it."""
    return float(torch.ones((), dtype=torch.float32) / params.ts)


def srm_with(u: torch.Tensor, params: SRMParams, scan: PotentialScan,
             spike_scan: SpikeScan | None = None) -> torch.Tensor:
    """Spikes ``[T, ...]`` from potentials ``u`` with ``scan`` computing u_t; ρ (the backward's only
    input) is computed only when a gradient will be taken, so evaluation pays for the scan alone.
    ``spike_scan`` (where a backend has one) writes the float32 spikes in the scan's pass, and the
    potentials only when ρ needs them."""
    if not (torch.is_grad_enabled() and u.requires_grad):
        spikes, _, _ = _scan(u, params, scan, spike_scan, keep_potential=False)
        return spikes.to(u.dtype).reshape(u.shape)
    return _SRM.apply(u, params, scan, spike_scan)


def srm_torch(u: torch.Tensor, params: SRMParams) -> torch.Tensor:
    """Spikes ``[T, ...]`` (0 or 1/ts) from membrane potentials ``u`` with the reference scans."""
    return srm_with(u, params, refractory_potential)


__all__ = ["SRMParams", "psp_kernel", "refractory_kernel", "refractory_potential", "srm_backward", "srm_forward",
           "spike_value", "srm_rho", "srm_spikes_from", "srm_torch", "srm_with"]

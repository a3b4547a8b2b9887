"""SLAYER's spike response model (SRM), PyTorch reference (Shrestha & Orchard,
NeurIPS 2018; reference code bamsumit/slayerPytorch, ``src/slayer.py``).

All tensors are time-major ``[T, ...]`` with bins of ``ts`` ms; a spike has amplitude ``1/ts``.

- **Kernels** (``alpha_kernel``): ε[k] = mult·(t_k/τ)·e^{1 − t_k/τ}, t_k = k·ts, ε[0] = 0, cut at the
  first tap after τ whose magnitude is below 0.01 (slayerPytorch's ``_calculateAlphaKernel``).
  PSP: τ = τ_sr, mult = 1 (77 taps for τ_sr = 10). Refractory ν: τ = τ_ref, mult = −scaleRef·θ
  (11 taps with minimum −20 at k = 1 for θ = 10, scaleRef = 2, τ_ref = 1).
- **PSP** (``psp``): the causal convolution psp(x)[t] = ts·Σ_k ε[k]·x[t−k]. Its gradient is the
  correlation g_in[t] = ts·Σ_k ε[k]·g[t+k] (the paper's temporal credit assignment), which autograd
  derives from each form. Forms: ``toeplitz`` (one [T,T] banded matmul, cached), ``fft`` (rfft
  product, O(T log T)), ``shift`` (K shifted multiply-adds, O(K·T)), ``conv`` (direct conv1d, the
  readable one the tests compare with). ``auto`` picks by measurement (:func:`psp_form_for`).
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

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

PSP_FORMS = ("auto", "toeplitz", "fft", "shift", "conv")
KERNEL_EPSILON = 0.01
# ``auto``, from scripts/psp_forms.py on an H100 (forward + backward, 129,600 neurons): the [T,T]
# matmul wins up to T ~ 600 whatever the taps (T=300: 1.4 ms vs conv 2.2 / 6.3, fft 4.5 / 5.5);
# beyond, the direct conv wins for short kernels (8 taps, T=1000: 7.1 ms vs 10.9) and the matmul,
# then the FFT, for long ones (77 taps: T=1000 matmul 10.9 vs fft 16.6; T=3000 fft 46 vs conv 57)
TOEPLITZ_MAX_STEPS = 600
SHORT_KERNEL_TAPS = 32
LONG_KERNEL_TOEPLITZ_MAX_STEPS = 1500


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


@functools.lru_cache(maxsize=64)
def _alpha_taps(tau: float, ts: float, mult: float, max_taps: int) -> tuple[float, ...]:
    taps = []
    for k in range(max_taps):
        t = k * ts
        value = mult * t / tau * math.exp(1 - t / tau)
        if abs(value) < KERNEL_EPSILON and t > tau:
            break
        taps.append(value)
    return tuple(taps)


def alpha_kernel(tau: float, ts: float = 1.0, mult: float = 1.0, max_taps: int = 100_000) -> torch.Tensor:
    """The truncated α kernel mult·(t/τ)·e^{1 − t/τ} at t = 0, ts, 2·ts, ... (float64, ε[0] = 0)."""
    taps = _alpha_taps(float(tau), float(ts), float(mult), int(max_taps))
    return torch.tensor(taps, dtype=torch.float64, device="cpu")  # host taps, also under a meta-device build


def psp_kernel(params: SRMParams) -> torch.Tensor:
    """ε: the PSP kernel (τ_sr, peak 1 at t = τ_sr)."""
    return alpha_kernel(params.tau_sr, params.ts)


def refractory_kernel(params: SRMParams) -> torch.Tensor:
    """ν: the refractory kernel (τ_ref, minimum −scaleRef·θ at t = τ_ref)."""
    return alpha_kernel(params.tau_ref, params.ts, -params.scale_ref * params.theta)


# ---- PSP: causal temporal convolution -------------------------------------------------------------------
def psp_form_for(steps: int, form: str = "auto", taps: int = 8) -> str:
    """Resolve ``auto`` by the measured rule above: toeplitz for short T, then conv (short kernels) or
    toeplitz / fft (long kernels)."""
    if form not in PSP_FORMS:
        raise ValueError(f"unknown psp form {form!r}; valid forms: {', '.join(PSP_FORMS)}")
    if form != "auto":
        return form
    if steps <= TOEPLITZ_MAX_STEPS:
        return "toeplitz"
    if taps <= SHORT_KERNEL_TAPS:
        return "conv"
    return "toeplitz" if steps <= LONG_KERNEL_TOEPLITZ_MAX_STEPS else "fft"


def _taps(kernel: torch.Tensor | Sequence[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in (kernel.tolist() if isinstance(kernel, torch.Tensor) else kernel))


@functools.lru_cache(maxsize=64)
def _toeplitz(taps: tuple[float, ...], steps: int, ts: float, device: torch.device, dtype: torch.dtype
              ) -> torch.Tensor:
    lag = torch.arange(steps)[:, None] - torch.arange(steps)[None, :]  # t − t'
    kernel = torch.tensor(taps, dtype=torch.float64) * ts
    inside = (lag >= 0) & (lag < len(taps))
    matrix = torch.where(inside, kernel[lag.clamp(0, len(taps) - 1)], torch.zeros((), dtype=torch.float64))
    return matrix.to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=64)
def _spectrum(taps: tuple[float, ...], n: int, ts: float, device: torch.device) -> torch.Tensor:
    return torch.fft.rfft(torch.tensor(taps, dtype=torch.float64) * ts, n).to(device=device, dtype=torch.complex64)


@functools.lru_cache(maxsize=64)
def _conv_weight(taps: tuple[float, ...], ts: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return (torch.tensor(taps, dtype=torch.float64).flip(0) * ts).to(device=device, dtype=dtype).view(1, 1, -1)


def psp(x: torch.Tensor, kernel: torch.Tensor | Sequence[float], ts: float = 1.0, form: str = "auto") -> torch.Tensor:
    """psp(x)[t] = ts·Σ_k kernel[k]·x[t−k] along dim 0 of a time-major ``x``; differentiable.

    ``kernel``: the taps as a sequence or a CPU tensor (the device copies are cached per device).
    """
    steps, taps = x.shape[0], _taps(kernel)
    form, flat = psp_form_for(steps, form, len(taps)), x.reshape(steps, -1)
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64, torch.bfloat16) else torch.float32
    if form == "toeplitz":
        matrix = _toeplitz(taps, steps, float(ts), x.device, dtype)
        return (matrix @ flat.to(dtype)).to(x.dtype).reshape(x.shape)
    if form == "fft":
        n = steps + len(taps) - 1
        spectrum = _spectrum(taps, n, float(ts), x.device)
        y = torch.fft.irfft(torch.fft.rfft(flat.float(), n, dim=0) * spectrum[:, None], n, dim=0)[:steps]
        return y.to(x.dtype).reshape(x.shape)
    if form == "shift":  # K shifted multiply-adds: y[k:] += ts·ε[k]·x[:T−k]
        y = flat.to(dtype) * (ts * taps[0])
        for k, value in enumerate(taps[1:], start=1):
            if value and k < steps:
                y[k:] += (ts * value) * flat[: steps - k].to(dtype)
        return y.to(x.dtype).reshape(x.shape)
    # direct: conv1d over [M, 1, T] with the flipped kernel and K − 1 zeros in front (causal)
    weight = _conv_weight(taps, float(ts), x.device, dtype)
    y = F.conv1d(F.pad(flat.t().to(dtype).unsqueeze(1), (len(taps) - 1, 0)), weight)
    return y.squeeze(1).t().to(x.dtype).reshape(x.shape)


def psp_correlation(grad: torch.Tensor, kernel: torch.Tensor, ts: float = 1.0) -> torch.Tensor:
    """The PSP's backward written out: g_in[t] = ts·Σ_k kernel[k]·g[t+k] (anti-causal), for tests."""
    out = torch.zeros_like(grad)
    for k, value in enumerate(kernel.tolist()):
        if value and k < grad.shape[0]:
            out[: grad.shape[0] - k] += ts * value * grad[k:]
    return out


# ---- spike generation with refractoriness --------------------------------------------------------------
def srm_forward(u: torch.Tensor, nu: torch.Tensor, params: SRMParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference scan over ``u`` ``[T, M]``: returns spikes (amplitude 1/ts) and ρ(u_t).

    Only the neurons that fired at t receive ν (an index update), so the loop costs O(spikes·K)
    beyond the O(T·M) reads; the spikes and ρ are then computed for all steps at once.
    """
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
    spikes = (after >= params.theta).to(u.dtype) / params.ts
    rho = params.rho_scale * torch.exp(-(after - params.theta).abs() / params.rho_tau)
    return spikes, rho


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


class _SRMTorch(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, params):  # type: ignore[override]
        flat = u.reshape(u.shape[0], -1).float()
        nu = refractory_kernel(params)
        spikes, rho = srm_forward(flat, nu, params)
        ctx.save_for_backward(rho)
        ctx.params, ctx.nu, ctx.shape, ctx.dtype = params, nu, u.shape, u.dtype
        return spikes.to(u.dtype).reshape(u.shape)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (rho,) = ctx.saved_tensors
        g = srm_backward(grad.reshape(rho.shape).float(), rho, ctx.nu, ctx.params)
        return g.to(ctx.dtype).reshape(ctx.shape), None


def srm_torch(u: torch.Tensor, params: SRMParams) -> torch.Tensor:
    """Spikes ``[T, ...]`` (0 or 1/ts) from membrane potentials ``u`` with the reference scans."""
    return _SRMTorch.apply(u, params)


__all__ = ["PSP_FORMS", "SRMParams", "alpha_kernel", "psp", "psp_correlation", "psp_form_for", "psp_kernel",
           "refractory_kernel", "srm_backward", "srm_forward", "srm_torch"]

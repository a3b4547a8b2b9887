"""Synaptic filters: the causal temporal kernels of the suite's neurons, in one place.

Two kernels, one convolution:

- **α kernel** (SLAYER, Shrestha & Orchard, NeurIPS 2018; slayerPytorch ``_calculateAlphaKernel``):
  ε[k] = mult·(t_k/τ)·e^{1 − t_k/τ}, t_k = k·ts, ε[0] = 0, cut at the first tap after τ whose magnitude
  is below 0.01. SLAYER's PSP: τ = τ_sr, mult = 1 (77 taps for τ_sr = 10); its refractory kernel ν:
  τ = τ_ref, mult = −scaleRef·θ.
- **Exponential kernel** (TSSL-BP, Zhang & Li, NeurIPS 2020; stonezwr/TSSL-BP ``psp()``): the impulse
  response of b_t = b_{t−1} − b_{t−1}/τs + x_t, output b_t/τs, i.e. ε[k] = (1 − 1/τs)^k/τs, computed by
  running that recurrence in float64 so the filter reproduces the reference's numbers.
- **PSP** (``psp``): the causal convolution psp(x)[t] = ts·Σ_k ε[k]·x[t−k] along dim 0 of a time-major
  tensor. Its gradient is the correlation g_in[t] = ts·Σ_k ε[k]·g[t+k] (``psp_correlation``), which
  autograd derives from each form. Forms: ``toeplitz`` (one [T,T] banded matmul), ``fft`` (rfft product,
  O(T log T)), ``shift`` (K shifted multiply-adds, O(K·T)), ``conv`` (direct conv1d, the readable one the
  tests compare with). ``auto`` picks by measurement (:func:`psp_form_for`).

Every derived tensor (taps, [T,T] matrices, spectra, conv weights) lives in a bounded LRU cache keyed by
the taps, T and the device, so a long sweep over τ or T cannot grow memory without limit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

PSP_FORMS = ("auto", "toeplitz", "fft", "shift", "conv")
KERNEL_EPSILON = 0.01
CACHE_SIZE = 64  # derived tensors kept per cache (each at most [T, T] floats)
# ``auto``, from scripts/psp_forms.py on an H100 (forward + backward, 129,600 neurons): the [T,T]
# matmul wins up to T ~ 600 whatever the taps (T=300: 1.4 ms vs conv 2.2 / 6.3, fft 4.5 / 5.5);
# beyond, the direct conv wins for short kernels (8 taps, T=1000: 7.1 ms vs 10.9) and the matmul,
# then the FFT, for long ones (77 taps: T=1000 matmul 10.9 vs fft 16.6; T=3000 fft 46 vs conv 57)
TOEPLITZ_MAX_STEPS = 600
SHORT_KERNEL_TAPS = 32
LONG_KERNEL_TOEPLITZ_MAX_STEPS = 1500


# ---- kernels -----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=CACHE_SIZE)
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


@functools.lru_cache(maxsize=CACHE_SIZE)
def exponential_kernel(tau: float, steps: int) -> tuple[float, ...]:
    """TSSL-BP's PSP taps ε[0..steps−1] = impulse response of b ← b − b/τ + x, read out as b/τ (float64)."""
    if not tau > 1:
        raise ValueError(f"the exponential kernel needs tau > 1 time step, got {tau}")
    syn, taps = 1.0, []
    for _ in range(steps):
        taps.append(syn / tau)
        syn = syn - syn / tau
    return tuple(taps)


# ---- the causal convolution --------------------------------------------------------------------------
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
    if isinstance(kernel, tuple):
        return kernel
    return tuple(float(v) for v in (kernel.tolist() if isinstance(kernel, torch.Tensor) else kernel))


@functools.lru_cache(maxsize=CACHE_SIZE)
def _toeplitz(taps: tuple[float, ...], steps: int, ts: float, device: torch.device, dtype: torch.dtype
              ) -> torch.Tensor:
    lag = torch.arange(steps)[:, None] - torch.arange(steps)[None, :]  # t − t'
    kernel = torch.tensor(taps, dtype=torch.float64) * ts
    inside = (lag >= 0) & (lag < len(taps))
    matrix = torch.where(inside, kernel[lag.clamp(0, len(taps) - 1)], torch.zeros((), dtype=torch.float64))
    return matrix.to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _spectrum(taps: tuple[float, ...], n: int, ts: float, device: torch.device) -> torch.Tensor:
    return torch.fft.rfft(torch.tensor(taps, dtype=torch.float64) * ts, n).to(device=device, dtype=torch.complex64)


@functools.lru_cache(maxsize=CACHE_SIZE)
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



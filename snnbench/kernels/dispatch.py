"""The one dispatcher per neuron: the PyTorch reference or the fused Triton kernel (and, for the LIF,
TSSL-BP's, ST-RSBP's and SLAYER's neurons, the Numba loop for the CPU).

Each neuron has a frozen parameter object and a reference in its own module (``lif``, ``tsslbp``,
``srm``, ``strsbp``) and a fused kernel beside it (``*_triton``, which imports the reference module, never the
other way round). This module imports both and is the only place that chooses between them.
``backend`` is ``torch``, ``triton`` or ``auto`` (triton on CUDA tensors, torch elsewhere); models
resolve ``auto`` once when built (:func:`snnbench.kernels.backends.bind_backends`).
"""

from __future__ import annotations

import torch

from .backends import pick_backend
from .lif import LIFParams, lif_torch
from .srm import SRMParams, srm_torch
from .strsbp import STRSBPParams, strsbp_scan_torch
from .tsslbp import TSSLBPParams, tsslbp_torch


def lif_scan(current: torch.Tensor, params: LIFParams, backend: str = "auto") -> torch.Tensor:
    """LIF spikes ``[T, ...]`` for input currents ``[T, ...]`` (STBP, TET). The numba scan takes float32 CPU
    tensors; others (bfloat16 under autocast, the meta tensors of a network check) take the PyTorch
    reference, which computes the same numbers."""
    if backend == "numba" and current.dtype == torch.float32 and current.device.type == "cpu":
        from .lif_numba import lif_numba

        return lif_numba(current, params)
    if backend != "numba" and pick_backend(backend, current) == "triton":
        from .lif_triton import lif_triton  # imports triton only when asked for

        return lif_triton(current, params)
    return lif_torch(current, params)


def tsslbp_scan(current: torch.Tensor, params: TSSLBPParams, backend: str = "auto") -> torch.Tensor:
    """TSSL-BP neurons: synaptic input ``[T, ...]`` → PSC ``[T, ...]``."""
    if backend == "numba" and current.device.type == "cpu":
        from .tsslbp_numba import tsslbp_numba

        return tsslbp_numba(current, params)
    if backend == "numba":  # a meta tensor of a network check: the reference computes the same
        return tsslbp_torch(current, params)
    if pick_backend(backend, current) == "triton":
        from .tsslbp_triton import tsslbp_triton

        return tsslbp_triton(current, params)
    return tsslbp_torch(current, params)


def srm_spikes(u: torch.Tensor, params: SRMParams, backend: str = "auto") -> torch.Tensor:
    """SLAYER's SRM spikes ``[T, ...]`` (0 or 1/ts) from membrane potentials ``u``."""
    if backend == "numba":
        from .srm_numba import srm_numba

        return srm_numba(u, params)
    if pick_backend(backend, u) == "triton":
        from .srm_triton import srm_spikes_triton

        return srm_spikes_triton(u, params)
    return srm_torch(u, params)


def strsbp_scan(drive: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, params: STRSBPParams,
                backend: str = "auto") -> torch.Tensor:
    """ST-RSBP neurons: feed-forward drive ``[T, B, N]`` and the ELL recurrence → spikes ``[T, B, N]``."""
    if backend == "numba":
        from .strsbp_numba import strsbp_scan_numba

        return strsbp_scan_numba(drive, index, weight, params)
    if pick_backend(backend, drive) == "triton":
        from .strsbp_triton import strsbp_scan_triton

        return strsbp_scan_triton(drive, index, weight, params)
    return strsbp_scan_torch(drive, index, weight, params)


def tsslbp_neuron(current: torch.Tensor, *, tau_m: float, tau_s: float, threshold: float = 1.0,
                  backend: str = "auto", intra: bool = True, reset: str = "zero", warmup: str = "element",
                  warmup_rate: float = 0.05) -> torch.Tensor:
    """TSSL-BP neuron on time-major synaptic input ``[T, ...]``; returns the PSC ``[T, ...]``.

    float32 and bfloat16 inputs are accepted; the state is float32, the output has the input's dtype.
    The keyword ablations (``intra``, ``reset`` zero|subtract, ``warmup`` element|layer_switch and its
    ``warmup_rate``) default to the reference code at HEAD; see :mod:`snnbench.kernels.tsslbp`.
    """
    params = TSSLBPParams(tau_m=float(tau_m), tau_s=float(tau_s), threshold=float(threshold), intra=bool(intra),
                          reset=reset, warmup=warmup, warmup_rate=float(warmup_rate))
    return tsslbp_scan(current, params, backend)


def batch_norm(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
               running_mean: torch.Tensor | None, running_var: torch.Tensor | None, *, training: bool,
               momentum: float = 0.1, eps: float = 1e-5, backend: str = "auto") -> torch.Tensor:
    """Batch norm of ``[N, C, H, W]`` (N = T·B) as ``nn.BatchNorm2d`` computes it (TET's conv → BN): the
    fused kernels, or PyTorch's own ``F.batch_norm`` (cuDNN on a GPU; exactly what ``nn.BatchNorm2d`` runs).
    :func:`snnbench.kernels.batchnorm.batch_norm_torch` is the formula both follow, written out."""
    if pick_backend(backend, x) == "triton":
        from .batchnorm_triton import batch_norm_triton

        return batch_norm_triton(x, weight, bias, running_mean, running_var, training=training,
                                 momentum=momentum, eps=eps)
    return torch.nn.functional.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)

"""Which implementation of a neuron scan runs: the PyTorch reference, the fused Triton kernels, or (for
the neurons that have one) a loop compiled for the CPU with Numba.

The backend is chosen once, when a model is built for its device (:func:`bind_backends`): ``auto``
becomes ``triton`` on a CUDA device, and elsewhere the module's ``cpu_backend`` where it declares one
and it is installed (``numba``: the LIF of STBP and TET, TSSL-BP's, ST-RSBP's, HM2-BP's and SLAYER's scans), else
``torch``; the run record stores
what ran. Every backend computes the same numbers (the parity tests).
"""

from __future__ import annotations

import os

import torch
from torch import nn

BACKENDS = ("auto", "torch", "triton", "numba")


def numba_available() -> bool:
    from .numba_jit import AVAILABLE

    return AVAILABLE


def resolve_backend(backend: str, device: torch.device | str | None = None, cpu_backend: str | None = None) -> str:
    """Validate ``backend``; resolve ``auto`` for ``device``: triton on CUDA; elsewhere ``cpu_backend`` (a
    neuron's compiled CPU loop, ``numba``) when given and installed, else torch."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    cuda = device is not None and torch.device(device).type == "cuda"
    if backend == "auto":
        if cuda:
            return "triton"
        return cpu_backend if cpu_backend == "numba" and numba_available() else "torch"
    if backend == "numba" and (cpu_backend != "numba" or cuda or not numba_available()):
        why = ("it runs on the CPU" if cuda else "numba is not installed" if not numba_available()
               else "only the LIF, TSSL-BP's, ST-RSBP's, HM2-BP's and SLAYER's neurons have one")
        raise ValueError(f"backend 'numba' is not available here ({why}); valid backends: auto, torch, triton")
    return backend


def pick_backend(backend: str, tensor: torch.Tensor | None = None) -> str:
    """:func:`resolve_backend` for the device of ``tensor`` (the functional API's per-call form)."""
    return resolve_backend(backend, tensor.device if tensor is not None else None)


def bind_backends(model: nn.Module, device: torch.device | str) -> list[str]:
    """Resolve the ``backend`` of every neuron module of ``model`` for ``device``, once; returns the
    distinct backends that will run (what the record stores). A Triton backend on a CPU device
    without ``TRITON_INTERPRET=1`` is refused here, before any training."""
    used = set()
    for module in model.modules():
        backend = getattr(module, "backend", None)
        if isinstance(backend, str):
            module.backend = resolve_backend(backend, device, getattr(module, "cpu_backend", None))
            used.add(module.backend)
    if "triton" in used:
        check_triton_device(torch.device(device))
    return sorted(used)


def check_triton_device(device: torch.device) -> None:
    """Triton kernels run on CUDA tensors, or on CPU tensors under ``TRITON_INTERPRET=1``."""
    if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError(f"the triton backend needs a CUDA tensor (got device {device}), or "
                           "TRITON_INTERPRET=1 set before snnbench is imported to run it on the CPU")

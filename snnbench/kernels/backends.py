"""Which implementation of a neuron scan runs: the PyTorch reference or the fused Triton kernels."""

from __future__ import annotations

import os

import torch

BACKENDS = ("auto", "torch", "triton")


def pick_backend(backend: str, tensor: torch.Tensor | None = None) -> str:
    """Validate ``backend``; resolve ``auto`` (triton on a CUDA ``tensor``, torch otherwise)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if backend == "auto":
        return "triton" if tensor is not None and tensor.is_cuda else "torch"
    return backend


def check_triton_device(x: torch.Tensor) -> None:
    """Triton kernels run on CUDA tensors, or on CPU tensors under ``TRITON_INTERPRET=1``."""
    if x.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError(f"the triton backend needs a CUDA tensor (got device {x.device}), or "
                           "TRITON_INTERPRET=1 set before snnbench is imported to run it on the CPU")

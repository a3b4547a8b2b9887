"""Which implementation of a neuron scan runs: the PyTorch reference or the fused Triton kernels."""

from __future__ import annotations

import torch

BACKENDS = ("auto", "torch", "triton")


def pick_backend(backend: str, tensor: torch.Tensor | None = None) -> str:
    """Validate ``backend``; resolve ``auto`` (triton on a CUDA ``tensor``, torch otherwise)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if backend == "auto":
        return "triton" if tensor is not None and tensor.is_cuda else "torch"
    return backend

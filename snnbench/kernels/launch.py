"""What every fused neuron scan shares: time-major inputs and the launch of one program per block of
neurons that walks the T steps (no fp fusion, so results match the PyTorch references bit for bit)."""

from __future__ import annotations

from typing import Any

import torch
import triton

from .backends import check_triton_device

NUM_WARPS = 4


def time_major(x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """``x`` made contiguous, its T and its number of neurons per step; refuses a device Triton cannot use."""
    x = x.contiguous()
    check_triton_device(x.device)
    return x, x.shape[0], x[0].numel() if x.shape[0] else 0


def launch(kernel: Any, neurons: int, steps: int, *args: Any, block: int, **constexprs: Any) -> None:
    """Run ``kernel(*args)`` on ``ceil(neurons / block)`` programs; nothing to do for an empty input."""
    if neurons and steps:
        kernel[(triton.cdiv(neurons, block),)](*args, BLOCK=block, num_warps=NUM_WARPS, enable_fp_fusion=False,
                                               **constexprs)

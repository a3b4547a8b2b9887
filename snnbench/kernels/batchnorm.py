"""Batch normalisation over time-folded spiking tensors (TET's conv → BN → LIF), PyTorch reference.

The input is ``[N, C, H, W]`` with N = T·B (TET folds time into the batch, as ``nn.BatchNorm2d`` on
``[T·B, C, H, W]`` does); statistics are per channel over the M = N·H·W values::

    training:  μ = mean(x),  σ² = mean((x − μ)²)  (biased);  running ← (1 − m)·running + m·(μ, σ²·M/(M − 1))
    eval:      μ, σ² = the running statistics
    y = (x − μ)·γ/√(σ² + ε) + β

and the backward of training mode (x̂ = (x − μ)/√(σ² + ε), r = γ/√(σ² + ε))::

    dβ = Σ dy;   dγ = Σ dy·x̂;   dx = r·(dy − dβ/M − x̂·dγ/M)

This is the formula ``nn.BatchNorm2d`` computes; :func:`batch_norm_torch` spells it out with autograd so
the fused kernels (:mod:`snnbench.kernels.batchnorm_triton`) have a readable reference.
"""

from __future__ import annotations

import torch


def batch_norm_torch(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                     running_mean: torch.Tensor | None, running_var: torch.Tensor | None, *, training: bool,
                     momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """``F.batch_norm`` over dims (0, 2, 3) of ``[N, C, H, W]``, written out; updates the running
    statistics in place when training (and they are given)."""
    if x.dim() != 4:
        raise ValueError(f"batch_norm_torch takes [N, C, H, W], got shape {tuple(x.shape)}")
    dims = (0, 2, 3)
    if training:
        count = x.numel() // x.shape[1]
        if count < 2:
            raise ValueError(f"batch norm in training needs more than 1 value per channel, got {count}")
        mean = x.mean(dims)
        var = ((x - mean.view(1, -1, 1, 1)) ** 2).mean(dims)
        if running_mean is not None and running_var is not None:
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                running_var.mul_(1 - momentum).add_(momentum * var.detach() * count / (count - 1))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch norm in eval mode needs running statistics")
        mean, var = running_mean, running_var
    y = (x - mean.view(1, -1, 1, 1)) * torch.rsqrt(var.view(1, -1, 1, 1) + eps)
    if weight is not None:
        y = y * weight.view(1, -1, 1, 1)
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y


__all__ = ["batch_norm_torch"]

"""Heaviside spike functions with surrogate derivatives.

``spike(x, name, width)`` returns ``H(x) = [x > 0]`` (strict, as STBP and TET compare ``u > V_th``)
and back-propagates ``dH/dx ~= surrogate(x)``:

==========  ===========================================  =====================================
name        surrogate(x)                                 parameter ``width``
==========  ===========================================  =====================================
rectangle   (1/w)·1[|x| < w/2]                           w (STBP: w = 1, height 1)
triangle    (1/γ²)·max(0, γ − |x|)                       γ (TET: γ = 1, peak 1)
sigmoid     α·σ(αx)·(1 − σ(αx))                          α (slope)
atan        (α/2) / (1 + (π/2·α·x)²)                     α (slope)
==========  ===========================================  =====================================
"""

from __future__ import annotations

import math

import torch

SURROGATES = ("rectangle", "triangle", "sigmoid", "atan")


def surrogate_grad(x: torch.Tensor, name: str, width: float) -> torch.Tensor:
    """The surrogate derivative of the Heaviside step at ``x`` (see the module table)."""
    if name == "rectangle":
        return (x.abs() < width / 2).to(x.dtype) / width
    if name == "triangle":
        return (width - x.abs()).clamp(min=0) / (width * width)
    if name == "sigmoid":
        sig = torch.sigmoid(width * x)
        return width * sig * (1 - sig)
    if name == "atan":
        return (width / 2) / (1 + (math.pi / 2 * width * x) ** 2)
    raise ValueError(f"unknown surrogate {name!r}; valid surrogates: {', '.join(SURROGATES)}")


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, name: str, width: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.name, ctx.width = name, width
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * surrogate_grad(x, ctx.name, ctx.width), None, None


def spike(x: torch.Tensor, name: str = "rectangle", width: float = 1.0) -> torch.Tensor:
    """Heaviside ``[x > 0]`` with the named surrogate gradient."""
    if name not in SURROGATES:
        raise ValueError(f"unknown surrogate {name!r}; valid surrogates: {', '.join(SURROGATES)}")
    return _Spike.apply(x, name, width)

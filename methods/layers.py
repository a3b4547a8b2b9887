"""Layers shared by the learning rules; every layer takes and returns time-major ``[T, B, ...]``
tensors unless it says otherwise.

- :class:`TimeDistributed` folds time into the batch for per-frame modules; :class:`Flatten`;
  :class:`SpikingNetwork` (a sequence of layers);
- :class:`SumPool`: fixed k×k sum pooling with every weight ``scale`` (TSSL-BP: 1.1 on PSCs; SLAYER:
  1.1·θ, odd sizes zero-padded with ``pad=True``);
- :class:`LIF` (the neuron of STBP and TET), :func:`td_batchnorm`, :class:`ResBlock` (tdBN basic block),
  :class:`NeuNorm`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from snnbench.kernels import LIFParams, batch_norm, lif_scan, pool_numba
from snnbench.kernels.backends import numba_available
from snnbench.monitor import SpikingModule

POOL_SCALE = 1.1  # TSSL-BP's pooling weight; SLAYER's is POOL_SCALE × θ


class TimeDistributed(nn.Module):
    """Applies a per-frame module to ``[T, B, ...]`` by folding time into the batch."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch = x.shape[:2]
        y = self.module(x.reshape(steps * batch, *x.shape[2:]))
        return y.reshape(steps, batch, *y.shape[1:])


class AvgPool(nn.AvgPool2d):
    """``nn.AvgPool2d(k, ceil_mode=True)`` (the same module and state) whose CPU forward and backward, where
    the k×k windows tile a float32 map exactly, are the compiled loops of
    :mod:`snnbench.kernels.pool_numba` (bit for bit PyTorch's numbers); elsewhere PyTorch's."""

    def __init__(self, kernel: int) -> None:
        super().__init__(kernel, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.kernel_size, int) and numba_available():
            return pool_numba.avg_pool_numba(x, self.kernel_size)  # PyTorch's kernel where the windows do not tile
        return super().forward(x)


class Flatten(nn.Module):
    """``[T, B, C, H, W]`` → ``[T, B, C·H·W]`` (channel-major, as the papers' code flattens)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2)


class SpikingNetwork(nn.Module):
    """A sequence of time-major layers; ``forward`` maps ``[T, B, ...]`` to ``[T, B, K]``."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class SumPool(nn.Module):
    """Fixed (untrained) k×k sum pooling, stride k, every weight ``scale``, on ``[N, C, H, W]``
    (wrap it in :class:`TimeDistributed` for time-major input). With ``pad``, H and W are
    zero-padded up to a multiple of k (slayerPytorch: 11 → 12); without, they must divide. On the CPU the
    window sums are :func:`~snnbench.kernels.pool_numba.sum_pool_numba`'s (bit for bit PyTorch's)."""

    def __init__(self, kernel: int, scale: float = POOL_SCALE, pad: bool = False) -> None:
        super().__init__()
        self.kernel, self.scale, self.pad = kernel, scale, pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel
        if self.pad:
            x = F.pad(x, (0, -x.shape[-1] % k, 0, -x.shape[-2] % k))
        if numba_available():  # the compiled loop where the windows tile a float32 CPU map: the same sums
            return pool_numba.sum_pool_numba(x, k) * self.scale
        return F.avg_pool2d(x, k, divisor_override=1) * self.scale

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, scale={self.scale}, pad={self.pad}"


class NeuronLayer(SpikingModule):
    """A layer of one neuron model: its frozen parameters and a ``backend`` that
    :func:`~snnbench.kernels.bind_backends` resolves once, when the model is built for its device."""

    def __init__(self, params: Any, backend: str = "auto") -> None:
        super().__init__()
        self.params, self.backend = params, backend

    def extra_repr(self) -> str:
        return f"{self.params}, backend={self.backend!r}"


class LIF(NeuronLayer):
    """Multi-step LIF layer on ``[T, B, ...]`` currents (see :mod:`snnbench.kernels.lif`)."""

    cpu_backend = "numba"  # backend auto on the CPU: the compiled scan (snnbench.kernels.lif_numba)

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        spikes = lif_scan(current, self.params, self.backend)
        self.record(spikes)
        return spikes


class BatchNorm(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` on ``[T·B, C, H, W]`` (same parameters, buffers and state dict) whose forward is
    :func:`snnbench.kernels.batch_norm`: the written-out PyTorch formula or the fused Triton kernels, by
    ``backend``. Momentum ``None`` (a cumulative average) is not supported."""

    def __init__(self, channels: int, backend: str = "torch") -> None:
        super().__init__(channels)
        self.backend = backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        training = self.training or self.running_mean is None
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
        return batch_norm(x, self.weight, self.bias, self.running_mean if self.track_running_stats else None,
                          self.running_var if self.track_running_stats else None, training=training,
                          momentum=float(self.momentum), eps=self.eps, backend=self.backend)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", backend={self.backend!r}"


class NeuNorm(nn.Module):
    """NeuNorm (Wu et al. 2019; spikingjelly's corrected form) on spikes ``[T, B, C, H, W]``.

    Keeps x_t = k·x_{t−1} + ((1 − k)/C²)·Σ_c s_t[c] per position and outputs s_t − w ⊙ x_t.
    """

    def __init__(self, channels: int, height: int, width: int, k: float = 0.9) -> None:
        super().__init__()
        self.k, self.channels = k, channels
        self.weight = nn.Parameter(torch.empty(channels, height, width))
        nn.init.kaiming_uniform_(self.weight.view(channels, -1), a=math.sqrt(5))

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        state = torch.zeros_like(spikes[0, :, :1])
        outputs = []
        for t in range(spikes.shape[0]):
            state = self.k * state + (1 - self.k) / self.channels ** 2 * spikes[t].sum(1, keepdim=True)
            outputs.append(spikes[t] - self.weight * state)
        return torch.stack(outputs)


def td_batchnorm(channels: int, alpha: float, threshold: float, dense: bool = False) -> nn.BatchNorm1d | nn.BatchNorm2d:
    """tdBN: batch norm whose statistics pool batch, time and space (time is folded into the batch
    by :class:`TimeDistributed`), with the affine weight initialised to α·V_th. ``dense``: the form for a
    fully connected layer, each neuron a channel whose statistics pool batch and time."""
    bn = nn.BatchNorm1d(channels) if dense else nn.BatchNorm2d(channels)
    nn.init.constant_(bn.weight, alpha * threshold)
    return bn


class ResBlock(nn.Module):
    """tdBN basic block: LIF(tdBN(conv)) → tdBN_{α}(conv) + shortcut → LIF, α = 1/√2 (tdBN) or 1 (TET's plain BN)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, params: LIFParams,
                 residual_alpha: float = 1 / math.sqrt(2), backend: str = "auto") -> None:
        super().__init__()
        th, a = params.threshold, residual_alpha
        self.conv1 = TimeDistributed(nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False), td_batchnorm(out_ch, 1.0, th)))
        self.lif1 = LIF(params, backend)
        self.conv2 = TimeDistributed(nn.Sequential(
            nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False), td_batchnorm(out_ch, a, th)))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = TimeDistributed(nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), td_batchnorm(out_ch, a, th)))
        self.lif2 = LIF(params, backend)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif2(self.conv2(self.lif1(self.conv1(x))) + self.shortcut(x))

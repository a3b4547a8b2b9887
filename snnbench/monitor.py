"""Firing statistics of spiking layers, gathered on the test set.

A spiking layer calls :meth:`SpikeMonitor.observe` with its spikes ``[T, B, ...]`` when a monitor
is attached. Per layer we keep the total spike count, per-neuron counts (for silent neurons) and
the share of (neuron, sample) pairs that fire zero, one or several times (TSSL-BP Figs. 7-8).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class SpikeMonitor:
    """Accumulates spike statistics for one layer."""

    def __init__(self) -> None:
        self.samples = 0
        self.steps = 0
        self.total = 0.0
        self.per_neuron: torch.Tensor | None = None
        self.pairs = torch.zeros(3, dtype=torch.float64)  # fired 0, 1, >1 times (neuron, sample)
        self.histogram: torch.Tensor | None = None  # spike count per (neuron, sample): 0..T

    @torch.no_grad()
    def observe(self, spikes: torch.Tensor) -> None:
        steps, batch = spikes.shape[0], spikes.shape[1]
        counts = spikes.detach().float().sum(0).reshape(batch, -1)  # [B, neurons]
        self.samples += batch
        self.steps = steps
        self.total += float(counts.sum())
        neuron_sum = counts.sum(0).double().cpu()
        self.per_neuron = neuron_sum if self.per_neuron is None else self.per_neuron + neuron_sum
        rounded = counts.round().long().clamp(0, steps).flatten().cpu()
        hist = torch.bincount(rounded, minlength=steps + 1).double()
        self.histogram = hist if self.histogram is None else self.histogram + hist

    def summary(self) -> dict[str, Any]:
        if not self.samples or self.per_neuron is None or self.histogram is None:
            return {}
        neurons = self.per_neuron.numel()
        pairs = float(self.histogram.sum())
        return {
            "neurons": neurons,
            "mean_rate": self.total / (self.samples * self.steps * neurons),
            "silent_fraction": float((self.per_neuron == 0).double().mean()),
            "spikes_per_sample": self.total / self.samples,
            "share_zero": float(self.histogram[0]) / pairs,
            "share_once": float(self.histogram[1]) / pairs if len(self.histogram) > 1 else 0.0,
            "share_more": float(self.histogram[2:].sum()) / pairs,
            "count_histogram": [int(v) for v in self.histogram.tolist()],
        }


class SpikingModule(nn.Module):
    """Base of every spiking layer: records its spikes when a monitor is attached."""

    monitor: SpikeMonitor | None = None

    def record(self, spikes: torch.Tensor) -> None:
        if self.monitor is not None:
            self.monitor.observe(spikes)


def attach_monitors(model: nn.Module) -> dict[str, SpikeMonitor]:
    monitors = {}
    for name, module in model.named_modules():
        if isinstance(module, SpikingModule):
            module.monitor = monitors[name] = SpikeMonitor()
    return monitors


def detach_monitors(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, SpikingModule):
            module.monitor = None

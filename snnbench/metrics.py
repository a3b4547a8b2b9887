"""Efficiency metrics with NeuroBench's meanings, measured on the test set and stored in every record.

- **SynapticOperations** per sample, for every ``Conv2d`` / ``Linear`` (fixed pooling is not a synapse):
  ``Dense`` = the MACs of the layer if every input were non-zero; ``Effective_ACs`` = the
  (non-zero input, weight) pairs when the layer's input is spiking (its non-zero values are all one
  value, e.g. 1 or 1/Ts); ``Effective_MACs`` = the same count when the input is real-valued (images,
  PSCs). Counted by running the layer's geometry with all-one weights on the input's non-zero mask.
- **Footprint**: bytes of parameters and buffers. **ConnectionSparsity**: the share of zero weights.
- **ActivationSparsity**: the share of (neuron, step) outputs of the spiking layers that are zero.
- **Energy estimate** per inference: 0.9 pJ per AC and 4.6 pJ per MAC (45 nm CMOS, the figures the
  TET paper uses). An estimate of arithmetic only, labelled so: memory traffic is not counted.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PJ_PER_AC = 0.9
PJ_PER_MAC = 4.6


class SynapseCounter:
    """Forward hook on one Conv2d / Linear that accumulates its synaptic operations."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.dense = 0.0
        self.acs = 0.0
        self.macs = 0.0
        self.handle = module.register_forward_hook(self)

    @torch.no_grad()
    def __call__(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        x = inputs[0].detach().float()
        mask = (x != 0).float()
        if isinstance(module, nn.Conv2d):
            ones = torch.ones_like(module.weight, dtype=torch.float32)

            def geometry(inp: torch.Tensor) -> float:
                out = F.conv2d(inp, ones, None, module.stride, module.padding, module.dilation,  # type: ignore[arg-type]
                               module.groups)
                return float(out.sum())

            effective, dense = geometry(mask), geometry(torch.ones_like(x))
        else:
            fan_out = int(module.out_features)  # type: ignore[arg-type]
            effective, dense = float(mask.sum()) * fan_out, float(x.numel()) * fan_out
        self.dense += dense
        if is_spiking(x):
            self.acs += effective
        else:
            self.macs += effective


def is_spiking(x: torch.Tensor) -> bool:
    """True when every non-zero value of ``x`` is the same (binary spikes of any amplitude)."""
    nonzero = x[x != 0]
    return nonzero.numel() == 0 or bool((nonzero == nonzero[0]).all())


def activation_sparsity(firing: dict[str, dict]) -> float | None:
    """Share of zero (neuron, step) outputs over the spiking layers, from the records' firing statistics."""
    neurons = sum(f["neurons"] for f in firing.values() if f)
    if not neurons:
        return None
    return 1 - sum(f["neurons"] * f["mean_rate"] for f in firing.values() if f) / neurons


def attach_counters(model: nn.Module) -> dict[str, SynapseCounter]:
    return {name: SynapseCounter(m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def detach_counters(counters: dict[str, SynapseCounter]) -> None:
    for counter in counters.values():
        counter.handle.remove()


def model_metrics(model: nn.Module, counters: dict[str, SynapseCounter], firing: dict[str, dict],
                  samples: int) -> dict[str, Any]:
    """The record's ``metrics``: per-sample operations, footprint, sparsities and the energy estimate."""
    samples = max(samples, 1)
    acs = sum(c.acs for c in counters.values()) / samples
    macs = sum(c.macs for c in counters.values()) / samples
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    total_weights = sum(w.numel() for w in weights)
    return {
        "synaptic_operations": {"Effective_ACs": acs, "Effective_MACs": macs,
                                "Dense": sum(c.dense for c in counters.values()) / samples},
        "footprint_bytes": sum(p.numel() * p.element_size() for p in model.parameters())
        + sum(b.numel() * b.element_size() for b in model.buffers()),
        "connection_sparsity": float(sum((w == 0).sum() for w in weights)) / total_weights if total_weights else 0.0,
        "activation_sparsity": activation_sparsity(firing),
        "energy_estimate_pj": acs * PJ_PER_AC + macs * PJ_PER_MAC,
        "energy_note": f"estimate: {PJ_PER_AC} pJ/AC, {PJ_PER_MAC} pJ/MAC (45 nm), arithmetic only, per sample",
    }


__all__ = ["PJ_PER_AC", "PJ_PER_MAC", "SynapseCounter", "activation_sparsity", "attach_counters", "detach_counters",
           "is_spiking", "model_metrics"]

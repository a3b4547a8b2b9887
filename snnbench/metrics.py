"""Efficiency metrics with NeuroBench's meanings, measured on the test set and stored in every record.

Operation-count convention (one for every method, independent of how the code computes):

- **SynapticOperations** per sample, for every ``Conv2d`` / ``Linear`` (fixed pooling is not a
  synapse), as NeuroBench's ``SynapticOperations``: ``Dense`` = the MACs of the layer if every input
  and every weight were non-zero (bias excluded); ``Effective_ACs`` = the (non-zero input, non-zero
  weight) pairs when the layer's input is spiking; ``Effective_MACs`` = the same pairs when the
  input is real-valued (images, PSCs). Counted by running the layer's geometry with its weights and
  inputs binarised, as NeuroBench does. Spiking means every non-zero input has one magnitude: 1 or
  −1 as in NeuroBench, or a fixed amplitude such as SLAYER's 1/Ts (a scale that folds into W).
- **Each synapse is counted on the tensor the model defines it to receive**, not on the one the code
  happens to multiply. A block whose synapse is defined on its own input declares it with
  ``counted_synapse`` (SLAYER's ``spike(psp(W·s))``: W receives spikes, even where snnbench applies
  the linear ε filter before W because that is cheaper). TSSL-BP's neurons output their PSC, which is
  what the next synapse receives in the reference code, so TSSL-BP synapses count MACs.
- **Filter_updates**: the per-neuron synaptic filters (SLAYER's ε on each post-synaptic current,
  TSSL-BP's PSC of each neuron) counted as one update per (neuron, step), a neuron operation of
  their own, reported beside the synaptic operations and not in the energy estimate.
- **Footprint**: bytes of parameters and buffers. **ConnectionSparsity**: the share of zero weights.
- **ActivationSparsity**: the share of (neuron, step) outputs of the spiking layers that are zero. For
  TSSL-BP the spikes are recovered from the PSC (the PSC itself is non-zero after a first spike).
- **Energy estimate** per inference: 0.9 pJ per AC (32-bit float add) and 4.6 pJ per MAC (add plus
  3.7 pJ 32-bit float multiply), 45 nm CMOS, from M. Horowitz, "Computing's energy problem (and what
  we can do about it)", ISSCC 2014 (the figures the TET and many SNN papers use). Arithmetic only,
  labelled so: memory traffic and neuron updates are not counted.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from snnbench.records.metrics import ENERGY_SOURCE, METRICS_CONVENTION, PJ_PER_AC, PJ_PER_MAC, activation_sparsity

SYNAPSES = (nn.Conv2d, nn.Linear)


def _binary(t: torch.Tensor) -> torch.Tensor:
    return (t != 0).to(torch.float32)


@functools.lru_cache(maxsize=256)
def _dense_conv_operations(device: str, x_shape: tuple, w_shape: tuple, stride: tuple, padding: tuple | str,
                           dilation: tuple, groups: int) -> float:
    """All (input, weight) pairs of a convolution: a function of the shapes alone, computed once per shape
    (on the layer's device, as the effective count is)."""
    ones = functools.partial(torch.ones, device=device, dtype=torch.float32)
    out = F.conv2d(ones(x_shape), ones(w_shape), None, stride, padding, dilation, groups)
    return float(out.sum())


def layer_operations(layer: nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """(effective, dense) synaptic operations of ``layer`` on input ``x`` ``[N, ...]``: non-zero
    (input, weight) pairs, and all pairs."""
    weight = layer.weight.detach()
    if isinstance(layer, nn.Conv2d):
        geometry = (layer.stride, layer.padding, layer.dilation, layer.groups)
        dense = _dense_conv_operations(str(x.device), tuple(x.shape), tuple(weight.shape), *geometry)  # type: ignore[arg-type]
        return float(F.conv2d(_binary(x), _binary(weight), None, *geometry).sum()), dense
    per_input = _binary(weight).sum(0)  # non-zero weights leaving each input
    effective = float((_binary(x).reshape(-1, x.shape[-1]) @ per_input).sum())
    return effective, float(x.numel() // x.shape[-1]) * weight.numel()


class SynapseCounter:
    """Forward hook that accumulates the synaptic operations of one Conv2d / Linear ``layer``, on the
    input of ``module`` (the layer itself, or the block that declares it as ``counted_synapse``,
    whose time-major input ``[T, B, ...]`` is folded to ``[T·B, ...]``)."""

    def __init__(self, module: nn.Module, layer: nn.Module | None = None) -> None:
        self.module, self.layer = module, layer if layer is not None else module
        self.dense = 0.0
        self.acs = 0.0
        self.macs = 0.0
        self.handle = module.register_forward_hook(self)

    @torch.no_grad()
    def __call__(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        x = inputs[0].detach().float()
        if self.layer is not module:
            x = x.flatten(0, 1)
        effective, dense = layer_operations(self.layer, x)
        self.dense += dense
        if is_spiking(x):
            self.acs += effective
        else:
            self.macs += effective


class FilterCounter:
    """Forward hook counting (neuron, step) updates of a per-neuron synaptic filter: one per output
    element of a module that declares ``synaptic_filter = True``."""

    def __init__(self, module: nn.Module) -> None:
        self.module, self.updates = module, 0.0
        self.handle = module.register_forward_hook(self)

    def __call__(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self.updates += float(output.numel())


def is_spiking(x: torch.Tensor) -> bool:
    """True when every non-zero value of ``x`` has the same magnitude (spikes of any amplitude, signed
    spikes ±1 as NeuroBench allows)."""
    nonzero = x[x != 0].abs()
    return nonzero.numel() == 0 or bool((nonzero == nonzero[0]).all())


def attach_counters(model: nn.Module) -> dict[str, SynapseCounter | FilterCounter]:
    """Hook every synapse (on its model-defined input, see the module docstring) and every filter."""
    counters: dict[str, SynapseCounter | FilterCounter] = {}
    claimed: set[int] = set()
    for name, module in model.named_modules():
        layer = getattr(module, "counted_synapse", None)
        if isinstance(layer, SYNAPSES):
            counters[name] = SynapseCounter(module, layer)
            claimed.add(id(layer))
        if getattr(module, "synaptic_filter", False):
            counters[f"{name}#filter"] = FilterCounter(module)
    for name, module in model.named_modules():
        if isinstance(module, SYNAPSES) and id(module) not in claimed:
            counters[name] = SynapseCounter(module)
    return counters


def detach_counters(counters: dict[str, Any]) -> None:
    for counter in counters.values():
        counter.handle.remove()


def model_metrics(model: nn.Module, counters: dict[str, SynapseCounter], firing: dict[str, dict],
                  samples: int) -> dict[str, Any]:
    """The record's ``metrics``: per-sample operations, footprint, sparsities and the energy estimate."""
    samples = max(samples, 1)
    synapses = [c for c in counters.values() if isinstance(c, SynapseCounter)]
    acs = sum(c.acs for c in synapses) / samples
    macs = sum(c.macs for c in synapses) / samples
    filters = sum(c.updates for c in counters.values() if isinstance(c, FilterCounter)) / samples
    weights = [m.weight for m in model.modules() if isinstance(m, SYNAPSES)]
    total_weights = sum(w.numel() for w in weights)
    return {
        "convention": METRICS_CONVENTION,
        "synaptic_operations": {"Effective_ACs": acs, "Effective_MACs": macs,
                                "Dense": sum(c.dense for c in synapses) / samples},
        "filter_updates": filters,
        "footprint_bytes": sum(p.numel() * p.element_size() for p in model.parameters())
        + sum(b.numel() * b.element_size() for b in model.buffers()),
        "connection_sparsity": float(sum((w == 0).sum() for w in weights)) / total_weights if total_weights else 0.0,
        "activation_sparsity": activation_sparsity(firing),
        "energy_estimate_pj": acs * PJ_PER_AC + macs * PJ_PER_MAC,
        "energy_note": f"estimate: {PJ_PER_AC} pJ/AC, {PJ_PER_MAC} pJ/MAC ({ENERGY_SOURCE}); synaptic "
                       "arithmetic only (no memory traffic, no neuron or filter updates), per sample",
    }


__all__ = ["ENERGY_SOURCE", "METRICS_CONVENTION", "PJ_PER_AC", "PJ_PER_MAC", "FilterCounter", "SynapseCounter",
           "activation_sparsity", "attach_counters", "detach_counters", "is_spiking", "layer_operations",
           "model_metrics"]

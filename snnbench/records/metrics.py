"""What a record's ``metrics`` mean, without torch (the board reads them): the operation-count convention,
the energy per operation, and the activation sparsity from the recorded firing statistics. The counting
itself is :mod:`snnbench.metrics`."""

from __future__ import annotations

METRICS_CONVENTION = 2  # 1: all-ones weights, synapses counted where the code multiplies (before 2026-11-23)
PJ_PER_AC = 0.9  # Horowitz, ISSCC 2014: 32-bit float add, 45 nm
PJ_PER_MAC = 4.6  # 0.9 pJ add + 3.7 pJ 32-bit float multiply
ENERGY_SOURCE = "Horowitz, ISSCC 2014 (45 nm, fp32): 0.9 pJ add, 3.7 pJ multiply"


def activation_sparsity(firing: dict[str, dict]) -> float | None:
    """Share of zero (neuron, step) outputs over the spiking layers, from the records' firing statistics."""
    neurons = sum(f["neurons"] for f in firing.values() if f)
    if not neurons:
        return None
    return 1 - sum(f["neurons"] * f["mean_rate"] for f in firing.values() if f) / neurons


__all__ = ["ENERGY_SOURCE", "METRICS_CONVENTION", "PJ_PER_AC", "PJ_PER_MAC", "activation_sparsity"]

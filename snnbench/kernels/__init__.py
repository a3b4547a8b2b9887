"""Spiking neuron scans: each a readable PyTorch reference (and, where it pays, a fused kernel)."""

from .lif import LIFParams, lif_scan
from .surrogate import SURROGATES, spike

__all__ = ["LIFParams", "lif_scan", "SURROGATES", "spike"]

"""Spiking neuron scans: each a readable PyTorch reference (and, where it pays, a fused kernel)."""

from .lif import LIFParams, lif_scan, lif_scan_autograd
from .surrogate import SURROGATES, spike

__all__ = ["SURROGATES", "LIFParams", "lif_scan", "lif_scan_autograd", "spike"]

"""Spiking neuron scans (and TET's batch norm over time-folded tensors): each a readable PyTorch
reference, a fused Triton kernel and one dispatcher (:mod:`snnbench.kernels.dispatch`)."""

from .backends import BACKENDS, bind_backends, resolve_backend
from .dispatch import batch_norm, lif_scan, srm_spikes, tsslbp_neuron, tsslbp_scan
from .lif import LIFParams, lif_scan_autograd
from .srm import SRMParams
from .surrogate import SURROGATES, spike
from .tsslbp import TSSLBPParams

__all__ = ["BACKENDS", "SURROGATES", "LIFParams", "SRMParams", "TSSLBPParams", "batch_norm", "bind_backends",
           "lif_scan", "lif_scan_autograd", "resolve_backend", "spike", "srm_spikes", "tsslbp_neuron", "tsslbp_scan"]

"""TSSL-BP's neuron compiled with Numba (on the CPU) against the PyTorch reference, bit for bit: PSCs,
membranes, updates and gradients for the reference and its ablations, odd sizes, and training steps."""

from __future__ import annotations

import itertools

import pytest
import torch

from snnbench.kernels.backends import numba_available
from snnbench.kernels.tsslbp import TSSLBPParams, tsslbp_backward, tsslbp_forward, tsslbp_torch

pytestmark = pytest.mark.skipif(not numba_available(), reason="numba is not installed (pip install numba)")

PARAMS = [TSSLBPParams(tau_m=m, tau_s=s, threshold=th, intra=intra, reset=reset)
          for (m, s, th), intra, reset in itertools.product([(5.0, 3.0, 1.0), (7.0, 2.5, 0.3)], [True, False],
                                                             ["zero", "subtract"])]


@pytest.mark.parametrize("params", PARAMS, ids=str)
@pytest.mark.parametrize("shape", [(5, 3, 6, 7, 5), (30, 2, 37), (2, 41)])
def test_the_numba_tsslbp_scan_equals_the_torch_reference_bit_for_bit(params, shape):
    from snnbench.kernels.tsslbp_numba import tsslbp_backward_numba, tsslbp_forward_numba

    g = torch.Generator().manual_seed(sum(shape))
    current = torch.rand(shape, generator=g) * 2.4 - 0.4  # spikes, silent neurons, warm-up steps
    grad = torch.randn(shape, generator=g)
    reference = tsslbp_forward(current, params)
    compiled = tsslbp_forward_numba(current, params)
    assert all(torch.equal(a, b) for a, b in zip(reference, compiled, strict=True))
    spikes = reference[1] > params.threshold
    assert 0 < spikes.float().mean() < 1 and (reference[0] < 1 / (4 * params.tau_s)).any()
    assert torch.equal(tsslbp_backward_numba(grad, *reference, params), tsslbp_backward(grad, *reference, params))


def test_the_numba_neuron_through_autograd_and_the_layer_switch_ablation():
    from snnbench.kernels.tsslbp_numba import tsslbp_numba

    base = torch.rand(8, 4, 11, generator=torch.Generator().manual_seed(5)) * 1.5
    for params in (TSSLBPParams(tau_m=5.0, tau_s=3.0), TSSLBPParams(tau_m=5.0, tau_s=3.0, warmup="layer_switch")):
        results = []
        for neuron in (tsslbp_torch, tsslbp_numba):
            x = base.clone().transpose(1, 2).requires_grad_(True)  # not contiguous
            out = neuron(x, params)
            (out * torch.linspace(-1, 1, out.numel()).view(out.shape)).sum().backward()
            results.append((out, x.grad))
        assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


@pytest.mark.parametrize("case", ["mnist", "yin-yang"])
def test_tsslbp_trains_the_same_weights_with_either_cpu_scan(case):
    """Three training steps: the numba neurons (what ``auto`` picks on the CPU) and the PyTorch reference
    give the same weights bit for bit."""
    from snnbench.bench import CASES, method_step
    from snnbench.methods.tsslbp import TSSLBPNeuron

    weights = []
    for backend in ("numba", "torch"):
        torch.manual_seed(0)
        step = method_step("tsslbp", CASES[case], CASES[case].steps, torch.device("cpu"))
        neurons = [module for module in step.model.modules() if isinstance(module, TSSLBPNeuron)]
        assert neurons and all(module.backend == "numba" for module in neurons)
        for module in neurons:
            module.backend = backend
        for _ in range(3):
            step()
        weights.append([v.detach().clone() for v in step.model.state_dict().values()])
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))


def test_the_warm_up_argument_is_the_references_including_its_clamp_and_a_nan():
    import numpy as np

    from snnbench.kernels.tsslbp import WARMUP_SLOPE
    from snnbench.kernels.tsslbp_numba import _warmup_argument

    membrane = np.array([[np.nan, 1.0, -100.0, 100.0, 0.3, 1.7]], dtype=np.float32)
    out = np.empty_like(membrane)
    _warmup_argument(membrane, np.float32(1.0), np.float32(WARMUP_SLOPE), out)
    reference = torch.clamp((-1 * torch.from_numpy(membrane) + 1.0) / WARMUP_SLOPE, -8, 8)
    assert torch.isnan(torch.from_numpy(out)[0, 0]) and torch.equal(torch.from_numpy(out)[0, 1:], reference[0, 1:])

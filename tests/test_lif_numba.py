"""The LIF scan and the tiling average pool compiled with Numba (STBP, STBP-tdBN, TET on the CPU) against the
PyTorch reference, bit for bit: spikes, membranes and gradients for every reset, surrogate and odd sizes,
pooled maps and their gradients, and a rule's training steps."""

from __future__ import annotations

import itertools

import pytest
import torch

from snnbench.kernels.backends import numba_available
from snnbench.kernels.lif import LIFParams, lif_backward, lif_forward, lif_torch
from snnbench.kernels.surrogate import SURROGATES

pytestmark = pytest.mark.skipif(not numba_available(), reason="numba is not installed (pip install numba)")

# thresholds, decays and widths that float32 does not hold exactly (0.3, 0.7) as well as ones it does
PARAMS = [LIFParams(decay=d, threshold=th, reset=r, detach_reset=dr, surrogate=s, width=w)
          for (d, th), r, dr, (s, w) in itertools.product(
              [(0.2, 0.5), (0.7, 0.3)], ["zero", "subtract"], [False, True],
              [(s, w) for s in SURROGATES for w in (1.0, 0.7)])]


@pytest.mark.parametrize("params", PARAMS, ids=str)
@pytest.mark.parametrize("shape", [(5, 3, 8, 13, 11), (8, 7), (1, 33), (12, 2, 61)])
def test_the_numba_lif_scan_equals_the_torch_reference_bit_for_bit(params, shape):
    from snnbench.kernels.lif_numba import lif_backward_numba, lif_forward_numba

    g = torch.Generator().manual_seed(sum(shape))
    current = torch.randn(shape, generator=g) * 0.6 + 0.25  # many spikes, many membranes near V_th
    grad = torch.randn(shape, generator=g)
    spikes, membrane = lif_forward(current, params)
    spikes_n, membrane_n = lif_forward_numba(current, params)
    assert torch.equal(membrane_n, membrane) and torch.equal(spikes_n, spikes)
    assert 0 < spikes.mean() < 1
    assert torch.equal(lif_backward_numba(grad, membrane, params), lif_backward(grad, membrane, params))


def test_the_numba_scan_through_autograd_and_a_non_contiguous_input():
    from snnbench.kernels.lif_numba import lif_numba

    params = LIFParams(decay=0.5, threshold=1.0, surrogate="triangle")
    base = torch.randn(6, 4, 10, generator=torch.Generator().manual_seed(3)) * 1.5
    grads = []
    for scan in (lif_torch, lif_numba):
        x = base.clone().transpose(1, 2).requires_grad_(True)  # [T, 10, 4], not contiguous
        out = scan(x, params)
        (out * torch.arange(out.numel()).view(out.shape).float().sin()).sum().backward()
        grads.append((out, x.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])


def test_the_numba_scan_refuses_what_it_does_not_compute():
    from snnbench.kernels.lif_numba import lif_forward_numba

    with pytest.raises(ValueError, match="float32 CPU tensors, got torch.float64"):
        lif_forward_numba(torch.zeros(3, 4, dtype=torch.float64), LIFParams())


@pytest.mark.parametrize(("shape", "k"), [((6, 3, 24, 24), 2), ((2, 5, 8, 12), 2), ((3, 2, 9, 6), 3),
                                          ((1, 1, 4, 4), 4)])
def test_the_numba_average_and_sum_pools_equal_pytorchs_bit_for_bit(shape, k):
    import torch.nn.functional as F

    from snnbench.kernels.pool_numba import avg_pool_numba, sum_pool_numba, tiles

    def outputs_and_grads(pool) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
        x = torch.randn(shape, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
        out = pool(x)
        out.backward(torch.randn(out.shape, generator=torch.Generator().manual_seed(k)))
        return out.detach(), x.grad

    assert tiles(torch.zeros(shape), k) and not tiles(torch.zeros(1, 1, 5, 4), 2)
    for reference, compiled in [(lambda x: F.avg_pool2d(x, k, ceil_mode=True), lambda x: avg_pool_numba(x, k)),
                                (lambda x: F.avg_pool2d(x, k, divisor_override=1) * 0.7,  # SumPool's scale
                                 lambda x: sum_pool_numba(x, k) * 0.7)]:
        (out, grad), (out_c, grad_c) = outputs_and_grads(reference), outputs_and_grads(compiled)
        assert torch.equal(out, out_c) and torch.equal(grad, grad_c)


def test_a_pool_that_does_not_tile_takes_pytorchs_kernel():
    from snnbench.methods.layers import AvgPool

    x = torch.randn(2, 3, 7, 7)  # ceil_mode: partial windows at the edge
    assert torch.equal(AvgPool(2)(x), torch.nn.AvgPool2d(2, ceil_mode=True)(x))


@pytest.mark.parametrize(("method", "case"), [("stbp", "mnist"), ("stbp-tdbn", "fmnist-mlp"), ("tet", "yin-yang")])
def test_a_rule_trains_the_same_weights_with_either_cpu_scan(method, case):
    """Three training steps of the rule's bench network: the numba scan and pool (what a CPU run takes) and
    the PyTorch reference give the same weights bit for bit, so a CPU run's numbers do not depend on which
    ran, only its speed does."""
    from functools import partial

    from snnbench.bench import CASES, method_step
    from snnbench.methods.layers import LIF, AvgPool

    weights = []
    for backend in ("numba", "torch"):
        torch.manual_seed(0)
        step = method_step(method, CASES[case], CASES[case].steps, torch.device("cpu"))
        scans = [module for module in step.model.modules() if isinstance(module, LIF)]
        assert scans and all(module.backend == "numba" for module in scans)  # auto, bound for the CPU
        for module in scans:
            module.backend = backend
        for module in step.model.modules():
            if isinstance(module, AvgPool) and backend == "torch":
                module.forward = partial(torch.nn.AvgPool2d.forward, module)  # PyTorch's kernel
        for _ in range(3):
            step()
        weights.append([v.detach().clone() for v in step.model.state_dict().values()])
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))

"""Each neuron kernel's forward + backward: the PyTorch reference at a CPU-sized shape and the Triton
kernel (in the interpreter on the CPU, natively on a GPU) at a small one."""

from __future__ import annotations

import pytest
import torch

from snnbench.kernels import LIFParams, SRMParams, lif_scan, srm_spikes, tsslbp_neuron
from snnbench.kernels.filters import psp
from snnbench.kernels.srm import psp_kernel

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# (T, neurons): the references at a CPU-sized shape, the interpreted Triton kernels at a small one
SHAPES = {"torch": (30, 20_000), "triton": (20, 256) if DEVICE == "cpu" else (30, 200_000)}
ROUNDS = 8


def _fwd_bwd(fn, x: torch.Tensor, grad: torch.Tensor):
    def run():
        x.grad = None
        fn(x).backward(grad)
        if x.is_cuda:
            torch.cuda.synchronize()

    return run


def _inputs(backend: str, mean: float, std: float) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    steps, neurons = SHAPES[backend]
    x = (torch.randn(steps, neurons, generator=gen) * std + mean).to(DEVICE).requires_grad_()
    return x, torch.randn(steps, neurons, generator=gen).to(DEVICE)


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_lif(benchmark, backend):
    x, g = _inputs(backend, 0.6, 0.5)
    params = LIFParams(decay=0.5, threshold=1.0, surrogate="triangle", width=1.0)
    benchmark.pedantic(_fwd_bwd(lambda v: lif_scan(v, params, backend), x, g), rounds=ROUNDS, warmup_rounds=1)


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_tsslbp(benchmark, backend):
    x, g = _inputs(backend, 0.4, 0.5)
    benchmark.pedantic(_fwd_bwd(lambda v: tsslbp_neuron(v, tau_m=5.0, tau_s=3.0, backend=backend), x, g),
                       rounds=ROUNDS, warmup_rounds=1)


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("exact", [False, True])
def test_srm_scan(benchmark, backend, exact):
    x, g = _inputs(backend, 8.0, 5.0)
    params = SRMParams(exact_reset=exact)
    benchmark.pedantic(_fwd_bwd(lambda v: srm_spikes(v, params, backend), x, g), rounds=ROUNDS, warmup_rounds=1)


@pytest.mark.parametrize("form", ["toeplitz", "fft", "conv"])
def test_psp(benchmark, form):
    x, g = _inputs("torch", 0.0, 1.0)
    taps = psp_kernel(SRMParams(tau_sr=10.0))
    benchmark.pedantic(_fwd_bwd(lambda v: psp(v, taps, 1.0, form), x, g), rounds=ROUNDS, warmup_rounds=1)

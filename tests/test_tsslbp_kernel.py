"""TSSL-BP neuron: the PyTorch backend against a hand-computed case and an independent transcription
of the reference code's semantics (shared/specs/tsslbp.md §3: slice sums over the future, O(T²));
the Triton backend against the PyTorch backend (natively on a GPU, else in Triton's interpreter)."""

import math

import numpy as np
import pytest
import torch

from snnbench.kernels import tsslbp_neuron


def tsslbp_neuron_torch(current, tau_m, tau_s):
    return tsslbp_neuron(current, tau_m=tau_m, tau_s=tau_s, backend="torch")


def test_hand_computed_forward_and_backward():
    current = torch.tensor([0.6, 0.7, 0.2, 0.9], requires_grad=True)
    psc = tsslbp_neuron_torch(current, tau_m=5.0, tau_s=3.0)
    assert psc.tolist() == pytest.approx([0.0, 1 / 3, 2 / 9, 13 / 27], rel=1e-6)
    psc.sum().backward()
    du = [0.6, 0.58, 0.2, 0.86]  # membrane updates; u = [0.6, 1.18, 0.2, 1.06], spikes at t = 1, 3
    big_g = [0.0] * 5
    for t in (3, 2, 1, 0):
        big_g[t] = 1 / 3 + (2 / 3) * big_g[t + 1]
    d3 = (1 / du[3]) * big_g[3]  # spike, no later spike: inter-neuron term only
    d2 = d3 * 0.8  # no spike: leak path to the spike at t = 3
    d1 = (1 / du[1]) * big_g[1] + d2 * 0.2 * 1.18 * (1 / du[1])  # inter + intra (carry = 0.8·d3 = d2)
    z = (0.6 - 1.0) / 0.2
    sig = 1 / (1 + math.exp(-z))
    d0 = big_g[0] * sig * (1 - sig) / 0.2  # PSC 0 < 1/12: warm-up surrogate
    assert current.grad.tolist() == pytest.approx([d0, d1, d2, d3], rel=1e-5)


def reference(current: np.ndarray, grad_psc: np.ndarray, tau_m: float, tau_s: float, threshold: float):
    """Independent float64 transcription of the reference semantics (spec §1 and §3), slice sums."""
    steps = current.shape[0]
    theta_m = 1 / tau_m
    mem = np.zeros(current.shape[1:])
    syn = np.zeros_like(mem)
    du, u, s, a = (np.zeros_like(current) for _ in range(4))
    for t in range(steps):
        du[t] = -theta_m * mem + current[t]
        mem = mem + du[t]
        u[t] = mem
        s[t] = mem > threshold
        mem = mem * (1 - s[t])
        syn = syn + (s[t] - syn) / tau_s
        a[t] = syn
    e = np.array([(1 - 1 / tau_s) ** k / tau_s for k in range(steps)])
    grad = np.zeros_like(current)
    carry = np.zeros_like(mem)
    for t in range(steps - 1, -1, -1):
        future = grad_psc[t:]
        weights = e[: steps - t].reshape(-1, *[1] * (current.ndim - 1))
        big_g = (weights * future).sum(0)
        with np.errstate(divide="ignore"):
            r = np.clip(-1 / du[t], -8, 0) * -s[t]  # the code's partial_u, sign folded
        value = r * big_g
        if t != steps - 1:
            value = value + carry * theta_m * u[t] * r + carry * (1 - theta_m) * (1 - s[t])
        carry = value * s[t] + carry * (1 - s[t]) * (1 - theta_m)
        z = np.clip((u[t] - threshold) / 0.2, -8, 8)
        surrogate = np.exp(-z) / ((1 + np.exp(-z)) ** 2 * 0.2)
        grad[t] = np.where(a[t] < 1 / (4 * tau_s), big_g * surrogate, value)
    return a, grad


@pytest.mark.parametrize("steps", [1, 5, 30, 100])
@pytest.mark.parametrize("regime, scale, bias", [("silent", 0.05, 0.0), ("sparse", 0.6, 0.15),
                                                  ("bursting", 1.5, 1.0)])
@pytest.mark.parametrize("taus", [(5.0, 3.0), (8.0, 4.0)])
def test_matches_reference_semantics(steps, regime, scale, bias, taus):
    rng = np.random.default_rng(steps)
    current = rng.normal(bias, scale, (steps, 3, 7, 5)).astype(np.float32)
    grad_psc = rng.normal(0, 1, current.shape).astype(np.float32)
    ref_psc, ref_grad = reference(current.astype(np.float64), grad_psc.astype(np.float64), *taus, 1.0)
    x = torch.tensor(current, requires_grad=True)
    psc = tsslbp_neuron_torch(x, *taus)
    psc.backward(torch.tensor(grad_psc))
    np.testing.assert_allclose(psc.detach().numpy(), ref_psc, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), ref_grad, rtol=1e-5, atol=1e-5 * np.abs(ref_grad).max() + 1e-7)
    if regime == "silent":
        assert ref_psc.max() == 0  # silent: every gradient comes from the warm-up surrogate


REGIMES = {"silent": (0.05, 0.0), "sparse": (0.6, 0.15), "bursting": (1.5, 1.0)}
ABLATIONS = [{}, {"intra": False}, {"reset": "subtract"}, {"warmup": "layer_switch", "warmup_rate": 0.05},
             {"warmup": "layer_switch", "warmup_rate": 0.9}]


def _both_backends(x, grad, device, **kw):
    results = []
    for backend in ("torch", "triton"):
        xi = x.detach().to(device).requires_grad_()
        y = tsslbp_neuron(xi, backend=backend, **kw)
        y.backward(grad.to(device, y.dtype))
        results.append((y.detach().float().cpu(), xi.grad.float().cpu()))
    return results


@pytest.mark.parametrize("steps, shape", [(1, (4, 33)), (5, (2, 3, 7, 9)), (30, (5, 61)), (100, (3, 37)),
                                          (300, (2, 29))])
@pytest.mark.parametrize("regime", sorted(REGIMES))
def test_triton_matches_torch(steps, shape, regime, kernel_device):
    scale, bias = REGIMES[regime]
    gen = torch.Generator().manual_seed(steps * 7 + len(regime))
    x = torch.randn(steps, *shape, generator=gen) * scale + bias
    grad = torch.randn(x.shape, generator=gen)
    (y_ref, g_ref), (y, g) = _both_backends(x, grad, kernel_device, tau_m=5.0, tau_s=3.0)
    assert torch.equal(y > 0, y_ref > 0)  # spikes (hence PSCs) agree bit for bit
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-5 * float(g_ref.abs().max()) + 1e-7)


@pytest.mark.parametrize("ablation", ABLATIONS, ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()) or "head")
@pytest.mark.parametrize("taus", [(5.0, 3.0), (8.0, 4.0)])
def test_triton_matches_torch_ablations(ablation, taus, kernel_device):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(30, 4, 50, generator=gen) * 0.9 + 0.35
    grad = torch.randn(x.shape, generator=gen)
    (y_ref, g_ref), (y, g) = _both_backends(x, grad, kernel_device, tau_m=taus[0], tau_s=taus[1], **ablation)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-5 * float(g_ref.abs().max()) + 1e-7)


def test_ablations_change_the_gradient_where_they_should():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(20, 200, generator=gen) * 0.9 + 0.35
    grad = torch.randn(x.shape, generator=gen)

    def input_grad(**kw):
        xi = x.clone().requires_grad_()
        tsslbp_neuron(xi, tau_m=5.0, tau_s=3.0, backend="torch", **kw).backward(grad)
        return xi.grad

    head = input_grad()
    assert not torch.allclose(head, input_grad(intra=False))
    assert not torch.allclose(head, input_grad(reset="subtract"))
    # layer warm-up with a rate threshold above any firing rate: surrogate everywhere
    psc = tsslbp_neuron(x, tau_m=5.0, tau_s=3.0, backend="torch")
    assert psc.max() > 0
    xi = x.clone().requires_grad_()
    tsslbp_neuron(xi, tau_m=5.0, tau_s=3.0, backend="torch", warmup="layer_switch", warmup_rate=1.0).backward(grad)
    big_g = torch.zeros_like(grad)
    running = torch.zeros_like(grad[0])
    for t in range(grad.shape[0] - 1, -1, -1):
        running = grad[t] / 3 + (2 / 3) * running
        big_g[t] = running
    # u_t from a forward-only scan (zero reset) gives the sigmoid's argument
    u = torch.zeros_like(x)
    mem = torch.zeros_like(x[0])
    for t in range(x.shape[0]):
        mem = mem + (-0.2 * mem + x[t])
        u[t] = mem
        mem = torch.where(mem > 1, torch.zeros_like(mem), mem)
    sig = torch.sigmoid(((u - 1) / 0.2).clamp(-8, 8))
    torch.testing.assert_close(xi.grad, big_g * sig * (1 - sig) / 0.2, rtol=1e-4, atol=1e-6)


def test_triton_bfloat16_against_float32(kernel_device):
    """bf16 activations keep a float32 state: given the same (bf16-representable) input and incoming
    gradient, bf16 and fp32 differ only by the final rounding of the PSC and of the input gradient.
    Stated tolerance: relative 2^-7 (bf16 has an 8-bit significand), absolute 1e-6."""
    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(30, 8, 64, generator=gen) * 0.6 + 0.3).bfloat16()
    grad = torch.randn(x.shape, generator=gen).bfloat16()
    (y32, g32), = _both_backends(x.float(), grad.float(), kernel_device, tau_m=8.0, tau_s=4.0)[1:]
    for backend in ("torch", "triton"):
        xi = x.to(kernel_device).detach().clone().requires_grad_()
        y16 = tsslbp_neuron(xi, tau_m=8.0, tau_s=4.0, backend=backend)
        assert y16.dtype == torch.bfloat16
        y16.backward(grad.to(kernel_device))
        assert xi.grad.dtype == torch.bfloat16
        torch.testing.assert_close(y16.float().cpu(), y32, rtol=2**-7, atol=1e-6)
        torch.testing.assert_close(xi.grad.float().cpu(), g32, rtol=2**-7, atol=1e-6)


def test_backend_choice_and_errors():
    x = torch.rand(3, 4)
    with pytest.raises(ValueError, match="valid backends: auto, torch, triton"):
        tsslbp_neuron(x, tau_m=5, tau_s=3, backend="cuda")
    with pytest.raises(ValueError, match="valid resets: zero, subtract"):
        tsslbp_neuron(x, tau_m=5, tau_s=3, reset="hard")
    with pytest.raises(ValueError, match="tau_m and tau_s must be > 1"):
        tsslbp_neuron(x, tau_m=1, tau_s=3)
    # auto on a CPU tensor is the torch backend: same numbers as asking for it
    assert torch.equal(tsslbp_neuron(x, tau_m=5, tau_s=3), tsslbp_neuron(x, tau_m=5, tau_s=3, backend="torch"))

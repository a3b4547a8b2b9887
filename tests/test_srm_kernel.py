"""SLAYER's SRM kernels: the α kernels and the refractory scan against hand-computed values, the PSP
forms against a direct convolution and its written-out correlation, the fused Triton scan against
the PyTorch reference, and the exact-reset backward against autograd of an unrolled network."""

from __future__ import annotations

import math

import pytest
import torch

from snnbench.kernels import srm_spikes
from snnbench.kernels.filters import alpha_kernel, psp, psp_correlation, psp_form_for
from snnbench.kernels.srm import SRMParams, psp_kernel, refractory_kernel, srm_backward, srm_forward

FORMS = ("toeplitz", "fft", "shift", "conv")


def test_psp_kernel_taps_as_the_spec_gives_them():
    eps = psp_kernel(SRMParams(tau_sr=10.0))
    assert len(eps) == 77 and eps[0] == 0  # cut at the first tap after tau below 0.01; one-bin latency
    assert eps[10] == pytest.approx(1.0) and int(eps.argmax()) == 10
    assert eps[1] == pytest.approx(0.1 * math.exp(0.9))
    assert abs(eps[-1]) >= 0.01 and 7.7 * math.exp(-6.7) < 0.01  # the next tap would be below the cut
    assert len(psp_kernel(SRMParams(tau_sr=1.0))) == 8


def test_refractory_kernel_taps_as_the_spec_gives_them():
    nu = refractory_kernel(SRMParams(theta=10.0, scale_ref=2.0, tau_ref=1.0))
    assert len(nu) == 11 and nu[0] == 0
    assert float(nu.min()) == pytest.approx(-20.0) and int(nu.argmin()) == 1
    assert nu[2] == pytest.approx(-20 * 2 * math.exp(-1))
    assert alpha_kernel(2.0, ts=0.5)[4] == pytest.approx(1.0)  # t = 4 * 0.5 = tau


def test_psp_of_a_single_spike_is_the_kernel():
    eps = psp_kernel(SRMParams(tau_sr=3.0))
    x = torch.zeros(40, 2, dtype=torch.float64)
    x[5, 1] = 1.0
    for form in FORMS:
        y = psp(x, eps, ts=0.5, form=form)
        expect = torch.zeros(40, dtype=torch.float64)
        expect[5: 5 + len(eps)] = 0.5 * eps[: 35]
        torch.testing.assert_close(y[:, 1], expect, atol=1e-6, rtol=0, msg=form)
        assert float(y[:, 0].abs().max()) < 1e-6


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("steps", [1, 7, 300])
def test_psp_forms_and_their_gradient_match_a_direct_convolution(form, steps):
    torch.manual_seed(steps)
    eps = psp_kernel(SRMParams(tau_sr=10.0))
    x = torch.randn(steps, 3, 4, dtype=torch.float32, requires_grad=True)
    g = torch.randn(steps, 3, 4)
    y = psp(x, eps, 1.0, form)
    (grad,) = torch.autograd.grad(y, x, g)
    x_ref = x.detach().double().requires_grad_()
    y_ref = psp(x_ref, eps, 1.0, "conv")
    (grad_ref,) = torch.autograd.grad(y_ref, x_ref, g.double())
    torch.testing.assert_close(y.double(), y_ref, rtol=1e-5, atol=2e-5)
    torch.testing.assert_close(grad.double(), grad_ref, rtol=1e-5, atol=2e-5)
    # the gradient is the PSP's correlation: g_in[t] = ts * sum_k eps[k] g[t + k]
    torch.testing.assert_close(grad.double(), psp_correlation(g.double(), eps), rtol=1e-5, atol=2e-5)


def test_psp_auto_form_and_bad_form():
    assert psp_form_for(300, taps=77) == "toeplitz" and psp_form_for(3000, taps=77) == "fft"
    assert psp_form_for(1000, taps=8) == "conv" and psp_form_for(1000, taps=77) == "toeplitz"
    with pytest.raises(ValueError, match="valid forms"):
        psp_form_for(10, "wavelet")


def test_refractory_scan_by_hand():
    p = SRMParams(theta=10.0, scale_ref=2.0, tau_ref=1.0, tau_rho=1.0, scale_rho=1.0)
    nu = refractory_kernel(p)
    u = torch.full((12, 1), 12.0)
    spikes, rho = srm_forward(u, nu, p)
    # t=0 fires; then 12 + nu[k] stays below 10 until nu[k] > -2: nu[4] = -3.98, nu[5] = -1.83 -> fires at 5
    assert spikes[:, 0].tolist() == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]
    after = [12.0, 12 + nu[1], 12 + nu[2], 12 + nu[3], 12 + nu[4], 12 + nu[5]]
    expect = [math.exp(-abs(float(v) - 10) / 10) / 10 for v in after]
    torch.testing.assert_close(rho[:6, 0], torch.tensor(expect), rtol=1e-6, atol=0)
    half = SRMParams(ts=0.5)
    assert float(srm_forward(u, refractory_kernel(half), half)[0].max()) == 2.0  # amplitude 1/ts


def _unrolled(u: torch.Tensor, p: SRMParams, exact: bool) -> torch.Tensor:
    """The scan written as an autograd graph: ds/du = rho(u_t); refractory path detached unless exact."""
    nu = refractory_kernel(p).to(u.dtype)
    steps = u.shape[0]
    ref: list[torch.Tensor] = [torch.zeros_like(u[0]) for _ in range(steps + len(nu))]
    out = []
    for t in range(steps):
        ut = u[t] + ref[t]
        z = (ut >= p.theta).to(u.dtype)
        rho = p.rho_scale * torch.exp(-(ut - p.theta).abs() / p.rho_tau)
        s = z / p.ts + (ut - ut.detach()) * rho.detach()  # value z/ts, gradient rho (straight-through)
        out.append(s)
        zs = s * p.ts if exact else z
        for j in range(1, len(nu)):
            ref[t + j] = ref[t + j] + nu[j] * zs
    return torch.stack(out)


@pytest.mark.parametrize("exact", [False, True])
def test_backward_matches_autograd_of_the_unrolled_scan(exact):
    torch.manual_seed(1)
    p = SRMParams(exact_reset=exact, tau_rho=0.5, ts=0.5)
    u = (torch.randn(40, 6, dtype=torch.float64) * 6 + 8).requires_grad_()
    g = torch.randn(40, 6, dtype=torch.float64)
    (expect,) = torch.autograd.grad(_unrolled(u, p, exact), u, g)
    spikes, rho = srm_forward(u.detach(), refractory_kernel(p), p)
    torch.testing.assert_close(spikes, _unrolled(u, p, exact).detach())
    got = srm_backward(g, rho, refractory_kernel(p), p)
    torch.testing.assert_close(got, expect, rtol=1e-9, atol=1e-12)
    if exact:  # the refractory path changes the gradient whenever something fired
        assert not torch.allclose(got, g * rho)


REGIMES = {"silent": (0.0, 2.0), "sparse": (6.0, 4.0), "bursting": (14.0, 6.0)}


@pytest.mark.parametrize("regime", list(REGIMES))
@pytest.mark.parametrize("steps", [1, 5, 30, 300])
@pytest.mark.parametrize("exact", [False, True])
def test_triton_scan_matches_the_reference(kernel_device, regime, steps, exact):
    from snnbench.kernels.srm_triton import srm_spikes_triton

    torch.manual_seed(steps)
    mean, std = REGIMES[regime]
    shape = (steps, 3, int(torch.randint(1, 40, ()).item()))
    u = (torch.randn(shape) * std + mean).to(kernel_device).requires_grad_()
    g = torch.randn(shape, device=kernel_device)
    p = SRMParams(exact_reset=exact, tau_rho=0.1, scale_rho=0.25)
    s_ref = srm_spikes(u, p, backend="torch")
    s_tri = srm_spikes_triton(u, p)
    assert torch.equal(s_ref, s_tri)
    (g_ref,) = torch.autograd.grad(s_ref, u, g)
    (g_tri,) = torch.autograd.grad(s_tri, u, g)
    torch.testing.assert_close(g_tri, g_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("tau_ref,ts", [(3.0, 1.0), (1.0, 0.25)])
def test_triton_scan_with_long_refractory_kernels(kernel_device, tau_ref, ts):
    from snnbench.kernels.srm_triton import srm_spikes_triton

    torch.manual_seed(0)
    p = SRMParams(tau_ref=tau_ref, ts=ts, exact_reset=True)
    assert len(refractory_kernel(p)) > 16  # a ring wider than one register tile of 16
    u = (torch.randn(80, 2, 33) * 6 + 10).to(kernel_device).requires_grad_()
    g = torch.randn(u.shape, device=kernel_device)
    s_ref, s_tri = srm_spikes(u, p, "torch"), srm_spikes_triton(u, p)
    assert torch.equal(s_ref, s_tri) and 0 < float(s_ref.detach().mean()) < 1 / ts
    torch.testing.assert_close(torch.autograd.grad(s_tri, u, g)[0], torch.autograd.grad(s_ref, u, g)[0],
                               rtol=1e-5, atol=1e-6)


def test_bf16_potentials_give_bf16_spikes(kernel_device):
    u = (torch.randn(20, 64) * 6 + 8).to(kernel_device, torch.bfloat16).requires_grad_()
    for backend in ("torch", "triton"):
        s = srm_spikes(u, SRMParams(), backend)
        assert s.dtype == torch.bfloat16
        (g,) = torch.autograd.grad(s.float().sum(), u)
        assert g.dtype == torch.bfloat16 and torch.isfinite(g.float()).all()
    assert torch.equal(srm_spikes(u, SRMParams(), "torch"), srm_spikes(u, SRMParams(), "triton"))


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="tau_rho must be > 0"):
        SRMParams(tau_rho=0.0)
    with pytest.raises(ValueError, match="valid backends"):
        srm_spikes(torch.zeros(2, 2), SRMParams(), backend="cuda")


@pytest.mark.parametrize("params", [SRMParams(theta=10.0, tau_sr=1.0, tau_ref=1.0, scale_ref=2.0, tau_rho=0.1,
                                              scale_rho=0.25),
                                    SRMParams(theta=3.3, tau_ref=4.7, scale_ref=1.3, exact_reset=True),
                                    SRMParams(theta=4.0, tau_ref=2.0, ts=0.3)],
                         ids=["slayer-mnist", "long-refractory-exact-reset", "bins-of-0.3"])
def test_the_numba_refractory_scan_equals_the_torch_reference_bit_for_bit(params):
    """SLAYER's compiled CPU scan (auto on the CPU): the same spikes, ρ and gradients as the reference, for
    a short and a long refractory kernel (the ring buffer wraps), and evaluation without ρ (the scan that
    writes spikes, amplitude 1/ts, in place of potentials) gives the same spikes."""
    from snnbench.kernels.numba_jit import AVAILABLE
    from snnbench.kernels.srm import refractory_potential, srm_torch
    from snnbench.kernels.srm_numba import refractory_potential_numba, srm_numba

    if not AVAILABLE:
        pytest.skip("numba is not installed (pip install numba)")
    gen = torch.Generator().manual_seed(5)
    u = torch.randn(120, 3, 7, 11, generator=gen) * 8 + 5
    nu = refractory_kernel(params)
    reference = refractory_potential(u.reshape(120, -1), nu, params)
    assert (reference >= params.theta).float().mean() > 0.05  # enough spikes that ν overlaps
    assert torch.equal(refractory_potential_numba(u.reshape(120, -1), nu, params), reference)
    grad = torch.randn(u.shape, generator=gen)
    results = []
    for spikes_of in (srm_torch, srm_numba):
        leaf = u.clone().requires_grad_()
        spikes = spikes_of(leaf, params)
        spikes.backward(grad)
        with torch.no_grad():
            results.append((spikes.detach(), leaf.grad, spikes_of(u, params)))
    (s1, g1, e1), (s2, g2, e2) = results
    assert torch.equal(s1, s2) and torch.equal(g1, g2) and torch.equal(e1, s1) and torch.equal(e2, s1)


def test_slayer_layers_pick_the_numba_scan_on_the_cpu():
    from snnbench.arch import parse_arch
    from snnbench.config import resolve_config
    from snnbench.kernels.backends import bind_backends, numba_available
    from snnbench.registry import create_dataset, create_method

    if not numba_available():
        pytest.skip("numba is not installed (pip install numba)")
    method = create_method("slayer")
    cfg = resolve_config(method, create_dataset("yin-yang"))
    model = method.build(parse_arch(cfg.arch), (4,), 3, cfg)
    assert bind_backends(model, "cpu") == ["numba"]


def test_rho_in_place_is_the_formula_bit_for_bit():
    """srm_rho's in-place steps are the same float32 operations as rho_scale·exp(−|u − θ| / rho_tau)."""
    from snnbench.kernels.srm import srm_rho

    params = SRMParams(theta=10.0, tau_rho=0.1, scale_rho=0.25)
    after = torch.randn(300, 1000, generator=torch.Generator().manual_seed(2)) * 6 + 8
    kept = after.clone()
    formula = params.rho_scale * torch.exp(-(after - params.theta).abs() / params.rho_tau)
    assert torch.equal(srm_rho(after, params), formula) and torch.equal(after, kept)

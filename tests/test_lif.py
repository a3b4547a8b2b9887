import math

import pytest
import torch

from snnbench.kernels import LIFParams, lif_scan, lif_scan_autograd, spike

CURRENT = [0.3, 0.3, 0.6, 0.1]


def scan(values, **kw):
    current = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    spikes, membrane = lif_scan_autograd(current, LIFParams(decay=0.2, threshold=0.5, **kw))
    return current, spikes, membrane


def test_hard_reset_matches_hand_computation():
    _, spikes, membrane = scan(CURRENT)
    assert spikes.tolist() == [0, 0, 1, 0]
    assert membrane.tolist() == pytest.approx([0.3, 0.36, 0.672, 0.1])


def test_soft_reset_subtracts_threshold():
    _, spikes, membrane = scan(CURRENT, reset="subtract")
    assert spikes.tolist() == [0, 0, 1, 0]
    assert membrane[3].item() == pytest.approx(0.2 * (0.672 - 0.5) + 0.1)


def test_threshold_is_strict():
    _, spikes, _ = scan([0.5, 0.0])
    assert spikes.tolist() == [0, 0]


def test_gradient_flows_through_reset_as_hand_computed():
    # L = sum_t s_t; rectangle surrogate is 1 at every step here (|u - 0.5| < 0.5).
    current, spikes, _ = scan(CURRENT)
    spikes.sum().backward()
    assert current.grad.tolist() == pytest.approx([1.155511552, 1.1107968, 0.8656, 1.0])


def test_detached_reset_drops_the_reset_path():
    current, spikes, _ = scan(CURRENT, detach_reset=True)
    spikes.sum().backward()
    assert current.grad.tolist() == pytest.approx([1.24, 1.2, 1.0, 1.0])


@pytest.mark.parametrize("name, width, x, expected", [
    ("rectangle", 1.0, [-0.6, -0.4, 0.0, 0.49, 0.51], [0, 1, 1, 1, 0]),
    ("rectangle", 0.5, [-0.3, 0.2], [0, 2]),
    ("triangle", 1.0, [-1.5, -0.5, 0.0, 0.25], [0, 0.5, 1.0, 0.75]),
    ("triangle", 2.0, [0.0, 1.0], [0.5, 0.25]),
    ("sigmoid", 4.0, [0.0, 1.0], [1.0, 4 * math.exp(-4) / (1 + math.exp(-4)) ** 2]),
    ("atan", 2.0, [0.0, 1.0], [1.0, 1.0 / (1 + math.pi ** 2)]),
])
def test_surrogate_gradient_matches_its_definition(name, width, x, expected):
    x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = spike(x, name, width)
    assert out.tolist() == [float(v > 0) for v in x.tolist()]
    out.sum().backward()
    assert x.grad.tolist() == pytest.approx(expected)


def test_bad_parameters_name_the_valid_ones():
    with pytest.raises(ValueError, match="valid surrogates: rectangle, triangle, sigmoid, atan"):
        LIFParams(surrogate="gauss")
    with pytest.raises(ValueError, match="valid resets: zero, subtract"):
        LIFParams(reset="none")


@pytest.mark.parametrize("steps", [1, 2, 5, 30])
@pytest.mark.parametrize("params", [
    LIFParams(decay=0.2, threshold=0.5),
    LIFParams(decay=0.5, threshold=1.0, surrogate="triangle", width=1.0),
    LIFParams(decay=0.25, threshold=0.75, detach_reset=True, surrogate="sigmoid", width=4.0),
    LIFParams(decay=0.9, threshold=1.0, reset="subtract", surrogate="atan", width=2.0),
    LIFParams(decay=0.9, threshold=1.0, reset="subtract", detach_reset=True),
], ids=str)
def test_explicit_backward_scan_matches_autograd_reference(steps, params):
    torch.manual_seed(steps)
    current = (torch.randn(steps, 3, 17, dtype=torch.float64) * 0.8 + 0.3).requires_grad_()
    weights = torch.randn(steps, 3, 17, dtype=torch.float64)
    ref_spikes, _ = lif_scan_autograd(current, params)
    (ref_spikes * weights).sum().backward()
    ref_grad = current.grad.clone()
    current.grad = None
    spikes = lif_scan(current, params)
    (spikes * weights).sum().backward()
    assert torch.equal(spikes, ref_spikes)
    assert 0 < spikes.mean() < 1
    torch.testing.assert_close(current.grad, ref_grad, rtol=1e-12, atol=1e-12)


LIF_STEPS = [1, 2, 4, 6, 10, 30, 100]
LIF_VARIANTS = [(reset, detach, surrogate, width) for reset in ("zero", "subtract") for detach in (False, True)
                for surrogate, width in (("rectangle", 1.0), ("triangle", 1.0), ("sigmoid", 4.0), ("atan", 2.0))]


@pytest.mark.parametrize("steps", LIF_STEPS)
@pytest.mark.parametrize("reset, detach, surrogate, width", LIF_VARIANTS)
def test_triton_lif_matches_reference(steps, reset, detach, surrogate, width, kernel_device):
    """The fused kernels (natively on a GPU, else Triton's interpreter) against the autograd reference."""
    params = LIFParams(decay=0.5, threshold=1.0, reset=reset, detach_reset=detach, surrogate=surrogate, width=width)
    gen = torch.Generator().manual_seed(steps)
    x = torch.randn(steps, 2, 37, generator=gen) * 0.8 + 0.5
    grad = torch.randn(x.shape, generator=gen)
    ref_in = x.clone().requires_grad_()
    ref_spikes, _ = lif_scan_autograd(ref_in, params)
    ref_spikes.backward(grad)
    fused_in = x.to(kernel_device).requires_grad_()
    spikes = lif_scan(fused_in, params, backend="triton")
    spikes.backward(grad.to(kernel_device))
    assert torch.equal(spikes.cpu(), ref_spikes.detach())
    torch.testing.assert_close(fused_in.grad.cpu(), ref_in.grad, rtol=1e-5, atol=1e-6)


def test_triton_lif_bfloat16_keeps_float32_state(kernel_device):
    params = LIFParams(decay=0.5, threshold=1.0, surrogate="triangle")
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(10, 4, 33, generator=gen) * 0.8 + 0.5).bfloat16()
    grad = torch.randn(x.shape, generator=gen).bfloat16()
    ref_in = x.float().requires_grad_()
    ref = lif_scan(ref_in, params, backend="torch")
    ref.backward(grad.float())
    low_in = x.to(kernel_device).requires_grad_()
    low = lif_scan(low_in, params, backend="triton")
    low.backward(grad.to(kernel_device))
    assert low.dtype == torch.bfloat16 and torch.equal(low.float().cpu(), ref.detach())
    torch.testing.assert_close(low_in.grad.float().cpu(), ref_in.grad, rtol=2**-7, atol=1e-6)
    with pytest.raises(ValueError, match="valid backends"):
        lif_scan(x, params, backend="cupy")

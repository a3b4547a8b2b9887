"""TET's batch norm over time-folded tensors: the written-out formula and the fused Triton kernels (run by
the interpreter on the CPU, on the GPU where there is one) against ``nn.BatchNorm2d`` in training and eval,
outputs, running statistics and gradients; and the TET option that selects them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnbench.kernels import batch_norm
from snnbench.kernels.batchnorm import batch_norm_torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # the interpreter runs CPU tensors


def _pair(channels: int, seed: int) -> tuple[nn.BatchNorm2d, nn.BatchNorm2d]:
    torch.manual_seed(seed)
    ref = nn.BatchNorm2d(channels).to(DEVICE)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-0.5, 0.5)
        ref.running_mean.uniform_(-0.2, 0.2)
        ref.running_var.uniform_(0.5, 2.0)
    other = nn.BatchNorm2d(channels).to(DEVICE)
    other.load_state_dict(ref.state_dict())
    return ref, other


def _input(shape: tuple[int, ...], seed: int, spikes: bool) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    if spikes:  # a conv of spikes: many equal values, an offset mean
        x = (torch.rand(shape, generator=generator) < 0.2).float() * 3 + 1
    else:
        x = torch.randn(shape, generator=generator) * 2 + 5
    return x.to(DEVICE)


@pytest.mark.parametrize("backend", ["torch-formula", "triton"])
@pytest.mark.parametrize("shape, spikes", [((12, 3, 5, 7), False), ((40, 4, 6, 6), True), ((3, 2, 1, 1), False),
                                           ((600, 5, 2, 2), False)])
def test_training_matches_batchnorm2d(backend, shape, spikes):
    ref, mine = _pair(shape[1], seed=1)
    x = _input(shape, seed=2, spikes=spikes)
    dy = torch.randn(shape, generator=torch.Generator().manual_seed(3)).to(DEVICE)
    x_ref, x_mine = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y_ref = ref(x_ref)
    if backend == "triton":
        y = batch_norm(x_mine, mine.weight, mine.bias, mine.running_mean, mine.running_var, training=True,
                       momentum=0.1, eps=1e-5, backend="triton")
    else:
        y = batch_norm_torch(x_mine, mine.weight, mine.bias, mine.running_mean, mine.running_var, training=True)
    assert torch.allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    assert torch.allclose(mine.running_mean, ref.running_mean, rtol=1e-6, atol=1e-6)
    assert torch.allclose(mine.running_var, ref.running_var, rtol=1e-5, atol=1e-6)
    (y_ref * dy).sum().backward()
    (y * dy).sum().backward()
    assert torch.allclose(x_mine.grad, x_ref.grad, rtol=1e-4, atol=1e-5)
    assert torch.allclose(mine.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-4)
    assert torch.allclose(mine.bias.grad, ref.bias.grad, rtol=1e-5, atol=1e-4)
    assert x_ref.grad.abs().sum() > 0


@pytest.mark.parametrize("backend", ["torch-formula", "triton"])
def test_eval_uses_the_running_statistics(backend):
    ref, mine = _pair(4, seed=5)
    ref.eval()
    x = _input((10, 4, 3, 3), seed=6, spikes=False)
    x_ref, x_mine = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    before = mine.running_mean.clone()
    if backend == "triton":
        y = batch_norm(x_mine, mine.weight, mine.bias, mine.running_mean, mine.running_var, training=False,
                       backend="triton")
    else:
        y = batch_norm_torch(x_mine, mine.weight, mine.bias, mine.running_mean, mine.running_var, training=False)
    y_ref = ref(x_ref)
    assert torch.allclose(y, y_ref, rtol=1e-5, atol=1e-5) and torch.equal(mine.running_mean, before)
    y.sum().backward()
    y_ref.sum().backward()
    assert torch.allclose(x_mine.grad, x_ref.grad, rtol=1e-5, atol=1e-6)


def test_bad_input_is_refused_with_the_shape_or_the_count():
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        batch_norm(torch.zeros(3, 4, device=DEVICE), None, None, None, None, training=True, backend="triton")
    with pytest.raises(ValueError, match="more than 1 value"):
        batch_norm(torch.zeros(1, 2, 1, 1, device=DEVICE), None, None, None, None, training=True, backend="triton")


def test_tet_selects_the_fused_batch_norm_and_keeps_the_state_dict():
    from snnbench.arch import parse_arch
    from snnbench.config import resolve_config
    from snnbench.methods.layers import BatchNorm
    from snnbench.registry import create_dataset, create_method

    method = create_method("tet")
    outs = {}
    for backend in ("torch", "triton"):
        cfg = resolve_config(method, create_dataset("mnist"), {},
                             {"arch": "4C3-P2-8C3-P2", "steps": 3, "bn_backend": backend})
        torch.manual_seed(0)
        net = method.build(parse_arch(cfg.arch), (1, 12, 12), 10, cfg).to(DEVICE)
        norms = [m for m in net.modules() if isinstance(m, BatchNorm)]
        assert len(norms) == 2 and all(m.backend == backend for m in norms)
        x = _input((3, 2, 1, 12, 12), seed=7, spikes=False)
        net.train()
        outs[backend] = (net(x), net.state_dict())
    assert torch.allclose(outs["torch"][0], outs["triton"][0], rtol=1e-4, atol=1e-4)
    assert outs["torch"][1].keys() == outs["triton"][1].keys()
    assert all(torch.allclose(outs["torch"][1][k].float(), outs["triton"][1][k].float(), atol=1e-5)
               for k in outs["torch"][1])


def test_bfloat16_inputs_keep_float32_statistics():
    """Under ``amp`` a conv hands BN bfloat16: the kernels read it, keep float32 statistics and running
    buffers, and return bfloat16 within its precision of the float32 result."""
    ref, mine = _pair(3, seed=9)
    x = _input((16, 3, 4, 4), seed=10, spikes=False)
    expected = ref(x)
    y = batch_norm(x.to(torch.bfloat16), mine.weight, mine.bias, mine.running_mean, mine.running_var,
                   training=True, backend="triton")
    assert y.dtype == torch.bfloat16 and mine.running_mean.dtype == torch.float32
    assert torch.allclose(y.float(), expected, rtol=2e-2, atol=2e-2)
    assert torch.allclose(mine.running_mean, ref.running_mean, rtol=1e-2, atol=1e-2)

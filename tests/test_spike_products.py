"""The event-driven products (snnbench.kernels.spike_products) and the rule options that use them: SLAYER's
``event_input`` and ST-RSBP's / HM2-BP's ``spsp_form=events``."""

from __future__ import annotations

import pytest
import torch

from snnbench.config import ConfigError, hashed_config, resolve_config
from snnbench.kernels import spike_products as sp
from snnbench.methods.st_rsbp.psp import _step_spsp, analytic_spsp, step_spsp_events
from snnbench.methods.st_rsbp.scan import spiking_scan
from snnbench.registry import build_model, create_dataset, create_method

pytestmark = pytest.mark.skipif(not sp.AVAILABLE, reason="numba is not installed (the compiled loops)")


def spikes(*shape: int, density: float, seed: int = 0) -> torch.Tensor:
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < density).float()


def test_spike_rows_hold_each_nonzero_once_row_by_row():
    x = torch.tensor([[0.0, 2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0]])
    rows = sp.spike_rows(x)
    assert rows.indptr.tolist() == [0, 2, 2, 3] and rows.indices.tolist() == [1, 3, 0]
    assert rows.values.tolist() == [2.0, 1.0, 3.0] and rows.density == 3 / 12


def test_the_products_over_spikes_are_the_dense_products():
    """Exact where every partial sum is exact (small integer weights: no rounding in any order), within
    float32 rounding otherwise; in the operand's dtype."""
    x = spikes(300, 120, density=0.05)
    integers = torch.randint(-8, 8, (120, 40)).float()
    assert torch.equal(sp.rows_matmul(sp.spike_rows(x), integers), x @ integers)
    g = torch.randint(-8, 8, (300, 40)).double()
    t_product = sp.rows_t_matmul(sp.spike_rows(x), g)
    assert t_product.dtype == torch.float64 and torch.equal(t_product, x.double().t() @ g)
    b = torch.randn(120, 40)
    torch.testing.assert_close(sp.rows_matmul(sp.spike_rows(x), b), x @ b)
    with pytest.raises(ValueError, match=r"must be \[120, N\]"):
        sp.rows_matmul(sp.spike_rows(x), torch.randn(100, 40))


def test_event_linear_has_the_dense_linears_output_and_gradients():
    x = spikes(6, 4, 200, density=0.02)
    weight = torch.randn(30, 200, requires_grad=True)
    dense = weight.detach().clone().requires_grad_()
    g = torch.randn(6, 4, 30)
    out = sp.event_linear(x, weight)
    out.backward(g)
    expected = torch.nn.functional.linear(x, dense)
    expected.backward(g)
    assert out.shape == (6, 4, 30)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(weight.grad, dense.grad)
    grad_x = x.clone().requires_grad_()  # an input that needs its gradient gets the dense one
    sp.event_linear(grad_x, weight.detach()).backward(g)
    torch.testing.assert_close(grad_x.grad, g @ weight.detach())


def test_slayer_event_input_swaps_only_the_first_dense_layer_and_trains_alike():
    method, dataset = create_method("slayer"), create_dataset("nmnist-1k")
    flags = {"arch": "40-30", "steps": 20, "batch_size": 3}
    base = resolve_config(method, dataset, flags, {"theta": 1.0})  # a threshold the layers cross
    event = resolve_config(method, dataset, flags, {"theta": 1.0, "event_input": True})
    assert "event_input" not in hashed_config(base.as_dict())["options"] and event.hash() != base.hash()
    torch.manual_seed(0)
    dense_net, _, _ = build_model(method, base, (2, 34, 34), 10, "cpu")
    torch.manual_seed(0)
    event_net, _, _ = build_model(method, event, (2, 34, 34), 10, "cpu")
    firsts = [next(m for m in net.modules() if isinstance(m, torch.nn.Linear)) for net in (dense_net, event_net)]
    assert type(firsts[0]) is torch.nn.Linear and type(firsts[1]).__name__ == "EventLinear"
    assert sum(type(m).__name__ == "EventLinear" for m in event_net.modules()) == 1
    assert dense_net.state_dict().keys() == event_net.state_dict().keys()
    for a, b in zip(dense_net.state_dict().values(), event_net.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the same initial weights: the swap draws no random numbers
    x = spikes(20, 3, 2, 34, 34, density=0.05)
    outs = [net(x) for net in (dense_net, event_net)]
    assert outs[0].sum() > 0
    torch.testing.assert_close(outs[0], outs[1])
    outs[0].sum().backward()
    outs[1].sum().backward()
    dense_grad, event_grad = firsts[0].weight.grad, firsts[1].weight.grad
    assert dense_grad.abs().sum() > 0  # sums of 60 terms in two orders: equal to float32 rounding of the largest
    torch.testing.assert_close(event_grad, dense_grad, rtol=1e-4, atol=1e-5 * dense_grad.abs().max().item())


def test_slayer_event_input_is_refused_where_w_does_not_see_the_input_spikes():
    method = create_method("slayer")
    with pytest.raises(ConfigError, match="event_input=true needs a first layer that is dense"):
        resolve_config(method, create_dataset("mnist"), {}, {"event_input": True})  # its recipe is a CNN
    with pytest.raises(ConfigError, match="filtered before W"):  # 4 inputs, 120 neurons: psp before W
        resolve_config(method, create_dataset("yin-yang"), {}, {"event_input": True})


def test_the_spsp_events_form_is_the_dense_products_sum():
    pre, post = spikes(200, 2, 150, density=0.03, seed=1), spikes(200, 2, 20, density=0.1, seed=2)
    dense = _step_spsp(pre, post, 16.0, 4.0, 2, torch.float64).float()
    events = step_spsp_events(pre, post, 16.0, 4.0, 2)
    assert events.dtype == torch.float32 and dense.abs().max() > 1
    torch.testing.assert_close(events, dense, rtol=1e-6, atol=1e-6)
    analytic = analytic_spsp(pre, post, tau_m=16.0, tau_s=4.0, t_ref=2)
    torch.testing.assert_close(analytic_spsp(pre, post, tau_m=16.0, tau_s=4.0, t_ref=2, events=True), analytic)
    silent = torch.zeros_like(post)  # a silent post neuron keeps its 0.1 either way
    assert analytic_spsp(pre, silent, tau_m=16.0, tau_s=4.0, t_ref=2, events=True).eq(0.1).any()


def test_the_events_drive_gives_the_dense_drives_spikes():
    from snnbench.kernels.strsbp import STRSBPParams

    x = spikes(100, 2, 300, density=0.05, seed=3)
    weight = torch.randint(-4, 5, (40, 300)).float()  # integer drives: the same sums in any order
    params = STRSBPParams(threshold=6.0, tau_m=16.0, tau_s=4.0, t_ref=2)
    dense, events = spiking_scan(x, weight, params), spiking_scan(x, weight, params, events=True)
    assert dense.sum() > 0 and torch.equal(dense, events)


@pytest.mark.parametrize("rule", ["st-rsbp", "hm2-bp"])
def test_spsp_form_events_is_a_named_option_of_both_spike_count_rules(rule):
    method, dataset = create_method(rule), create_dataset("yin-yang")
    base = resolve_config(method, dataset, {})
    event = resolve_config(method, dataset, {}, {"spsp_form": "events"})
    assert "spsp_form" not in hashed_config(base.as_dict())["options"] and event.hash() != base.hash()
    net, _, _ = build_model(method, event, (4, 1, 1), 3, "cpu")
    assert all(layer.events for layer in net.spiking_layers())
    with pytest.raises(ConfigError, match="spsp_form"):
        resolve_config(method, dataset, {}, {"spsp_form": "sparse"})


def test_a_tensors_rows_are_reused_until_it_changes():
    x = spikes(50, 40, density=0.1, seed=4)
    first = sp.spike_rows(x)
    assert sp.spike_rows(x) is first and sp.spike_rows(x.view(50, 40)) is first  # the same memory and layout
    x[0, :] = 1.0  # an in-place write bumps the version: scanned again
    again = sp.spike_rows(x)
    assert again is not first and again.indptr[1] == 40


def test_the_later_trace_is_the_pre_trace_run_backwards():
    from snnbench.methods.st_rsbp.psp import later_trace, pre_trace

    k = torch.rand(60, 2, 7, dtype=torch.float64)
    expected = pre_trace(k.flip(0), 4.0, torch.float64).flip(0)
    assert torch.equal(later_trace(k, 4.0), expected)
    b = 1 - 1 / 4.0  # and the definition, Q(t) = Σ_{t' > t} b^{t'−1−t}·K(t')
    direct = sum(b ** (tp - 1 - 10) * k[tp] for tp in range(11, 60))
    torch.testing.assert_close(later_trace(k, 4.0)[10], direct)

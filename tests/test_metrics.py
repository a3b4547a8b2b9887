"""NeuroBench-style metrics against hand-counted small networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnbench.metrics import PJ_PER_AC, PJ_PER_MAC, attach_counters, detach_counters, is_spiking, model_metrics


def test_linear_counts_acs_for_spikes_and_macs_for_real_inputs():
    net = nn.Sequential(nn.Linear(4, 3, bias=False), nn.Linear(3, 2, bias=False))
    counters = attach_counters(net)
    net[0](torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]))  # 3 spikes x 3 outputs = 9 ACs
    net[1](torch.tensor([[0.5, -2.0, 0.0]]))  # real values: 2 non-zero x 2 outputs = 4 MACs
    detach_counters(counters)
    first, second = counters["0"], counters["1"]
    assert (first.acs, first.macs, first.dense) == (9, 0, 2 * 4 * 3)
    assert (second.acs, second.macs, second.dense) == (0, 4, 3 * 2)
    metrics = model_metrics(net, counters, {}, samples=2)
    assert metrics["synaptic_operations"] == {"Effective_ACs": 4.5, "Effective_MACs": 2.0, "Dense": 15.0}
    assert metrics["filter_updates"] == 0.0
    assert metrics["energy_estimate_pj"] == pytest.approx(4.5 * PJ_PER_AC + 2.0 * PJ_PER_MAC)
    assert metrics["footprint_bytes"] == (12 + 6) * 4 and metrics["activation_sparsity"] is None


def test_conv_counts_non_zero_pairs_inside_the_borders():
    conv = nn.Conv2d(1, 2, 3, padding=0, bias=False)
    with torch.no_grad():
        conv.weight[0, 0, 0, 0] = 0.0  # one zero weight of 18
    counters = attach_counters(conv)
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 1] = 1.0  # inside: it reaches 1 output position (of 2x2) per row/col it covers -> 4 x 2 channels
    x[0, 0, 0, 0] = 1.0  # corner: reaches only output (0, 0) -> 1 x 2 channels
    conv(x)
    detach_counters(counters)
    counter = counters[""]
    # the interior spike reaches 4 outputs x 2 channels, through tap (0, 0) at output (1, 1): that is the
    # zero weight in channel 0, skipped; the corner spike reaches output (0, 0) through tap (0, 0) only,
    # zero in channel 0: 1 pair. 7 + 1 = 8, as NeuroBench counts (a zero weight is no operation)
    assert counter.acs == (4 * 2 - 1) + (1 * 2 - 1) and counter.macs == 0
    assert counter.dense == 2 * 2 * 2 * 9  # 2x2 outputs x 2 channels x 9 taps
    metrics = model_metrics(conv, counters, {"lif": {"neurons": 10, "mean_rate": 0.25}}, samples=1)
    assert metrics["connection_sparsity"] == pytest.approx(1 / 18)
    assert metrics["activation_sparsity"] == pytest.approx(0.75)


def test_spiking_means_one_non_zero_value():
    assert is_spiking(torch.tensor([0.0, 2.0, 2.0])) and is_spiking(torch.zeros(3))
    assert not is_spiking(torch.tensor([0.0, 1.0, 0.5]))


def test_every_run_record_carries_the_metrics(short_run):
    record = short_run("stbp", "digits", epochs=1)
    ops = record["metrics"]["synaptic_operations"]
    steps = record["steps"]
    # digits: 64 inputs -> 128 -> 10 over T steps: dense MACs per sample are exact
    assert ops["Dense"] == steps * (64 * 128 + 128 * 10)
    assert ops["Effective_MACs"] <= steps * 64 * 128 and 0 < ops["Effective_ACs"] <= steps * 128 * 10


def test_counts_equal_neurobenchs_on_linear_and_conv_with_pruned_weights():
    """Parity with the ``neurobench`` package's own counter (``single_layer_MACs``)."""
    layers = pytest.importorskip("neurobench.metrics.utils.layers", reason="neurobench not installed "
                                 "(pip install --no-deps neurobench)")
    torch.manual_seed(0)
    cases = [(nn.Linear(20, 7, bias=True), (5, 20)), (nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 9, 9)),
             (nn.Conv2d(2, 5, 5, padding=0, bias=False), (3, 2, 12, 12))]
    for layer, shape in cases:
        with torch.no_grad():
            layer.weight[torch.rand_like(layer.weight) < 0.3] = 0.0  # pruned
        for kind in ("spikes", "signed", "real"):
            x = (torch.rand(shape) < 0.2).float()
            if kind == "signed":
                x = x * torch.where(torch.rand(shape) < 0.5, -1.0, 1.0)
            elif kind == "real":
                x = x * torch.randn(shape)
            counters = attach_counters(layer)
            layer(x)
            detach_counters(counters)
            (counter,) = counters.values()
            effective, spiking = layers.single_layer_MACs(x, layer)
            dense, _ = layers.single_layer_MACs(x, layer, total=True)
            ours = counter.acs if spiking else counter.macs
            assert (counter.acs > 0 or counter.macs > 0) and spiking == (kind != "real")
            assert ours == float(effective) and (counter.macs if spiking else counter.acs) == 0, (layer, kind)
            assert counter.dense == float(dense), (layer, kind)


def test_slayer_counts_do_not_depend_on_where_psp_runs():
    from snnbench.kernels import SRMParams
    from snnbench.methods.layers import TimeDistributed
    from snnbench.methods.slayer import SRMLayer

    torch.manual_seed(0)
    params = SRMParams(theta=10.0, tau_sr=10.0, tau_ref=1.0, scale_ref=2.0, tau_rho=1.0, scale_rho=1.0, ts=1.0)
    linear = nn.Linear(30, 40, bias=False)
    spikes = (torch.rand(25, 2, 30) < 0.1).float()
    results = []
    for psp_first in (True, False):
        block = nn.Sequential(SRMLayer(TimeDistributed(linear), params, psp_first=psp_first, backend="torch"))
        counters = attach_counters(block)
        out = block(spikes)
        detach_counters(counters)
        results.append((model_metrics(block, counters, {}, samples=2), out))
    (first, out_first), (second, out_second) = results
    assert torch.allclose(out_first, out_second) or (out_first != out_second).float().mean() < 0.01
    assert first["synaptic_operations"] == second["synaptic_operations"]
    ops = first["synaptic_operations"]
    assert ops["Effective_MACs"] == 0 and ops["Effective_ACs"] == float(spikes.sum()) * 40 / 2  # W sees spikes
    assert first["filter_updates"] == second["filter_updates"] == 25 * 40  # ε once per output neuron-step


def test_energy_constants_cite_horowitz():
    from snnbench.metrics import ENERGY_SOURCE

    assert PJ_PER_MAC == pytest.approx(0.9 + 3.7) and PJ_PER_AC == 0.9 and "Horowitz" in ENERGY_SOURCE

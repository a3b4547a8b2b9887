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
    assert metrics["energy_estimate_pj"] == pytest.approx(4.5 * PJ_PER_AC + 2.0 * PJ_PER_MAC)
    assert metrics["footprint_bytes"] == (12 + 6) * 4 and metrics["activation_sparsity"] is None


def test_conv_counts_pairs_inside_the_borders():
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
    assert counter.acs == 4 * 2 + 1 * 2 and counter.macs == 0
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

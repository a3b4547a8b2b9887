"""SLAYER rule: the spike-count loss against its formula, sum pooling, the paper networks, and learning."""

from __future__ import annotations

import pytest
import torch

from snnbench.arch import parse_arch
from snnbench.config import ConfigError, resolve_config
from snnbench.kernels.filters import psp_correlation
from snnbench.kernels.srm import SRMParams, psp_kernel
from snnbench.methods.base import TimeDistributed
from snnbench.methods.layers import SumPool
from snnbench.methods.slayer import SLAYER, SRMLayer, spike_count_loss
from snnbench.registry import create_dataset, create_method


def test_spike_count_loss_is_half_the_summed_squared_count_error():
    eps = psp_kernel(SRMParams(tau_sr=1.0))
    spikes = torch.zeros(20, 2, 3)
    spikes[[1, 4, 9], 0, 0] = 1.0  # sample 0: neuron 0 fires 3 times
    spikes[[2, 3], 1, 2] = 1.0     # sample 1: neuron 2 fires twice
    spikes.requires_grad_()
    labels = torch.tensor([0, 1])
    loss = spike_count_loss(spikes, labels, true_count=5.0, false_count=1.0, epsilon=eps, ts=1.0)
    counts = torch.tensor([[3.0, 0, 0], [0, 0, 2.0]])
    target = torch.tensor([[5.0, 1, 1], [1, 5, 1]])
    error = (counts - target) / 20  # spread over the 20-bin region; psp(s - s.detach()) is 0 in value
    assert float(loss.detach()) == pytest.approx(0.5 * float((error**2).sum()) * 20)
    (grad,) = torch.autograd.grad(loss, spikes)
    # d loss / d s = ts * correlation of e(t) * ts with eps: the count error back through the PSP
    expect = psp_correlation(error.expand(20, 2, 3) * 1.0, eps, 1.0)
    torch.testing.assert_close(grad, expect)


def test_spike_count_loss_region_and_outside_spikes():
    eps = psp_kernel(SRMParams(tau_sr=1.0))
    spikes = torch.zeros(10, 1, 2)
    spikes[8, 0, 0] = 1.0  # outside the region [0, 5): its PSP is an error of its own
    loss = spike_count_loss(spikes, torch.tensor([0]), 2.0, 0.0, eps, 1.0, start=0, stop=5)
    count_part = 0.5 * ((2 / 5) ** 2 * 5)
    psp_part = 0.5 * float((eps[:2] ** 2).sum())  # the spike's PSP over bins 8, 9
    assert float(loss) == pytest.approx(count_part + psp_part)
    with pytest.raises(ConfigError, match="region"):
        spike_count_loss(spikes, torch.tensor([0]), 2.0, 0.0, eps, 1.0, start=7, stop=5)


def test_sum_pool_pads_odd_sizes_and_weights_by_1_1_theta():
    pool = SumPool(2, 11.0, pad=True)
    x = torch.ones(1, 1, 11, 11)
    y = pool(x)
    assert y.shape == (1, 1, 6, 6)
    assert float(y[0, 0, 0, 0]) == 44.0 and float(y[0, 0, 5, 5]) == 11.0  # the zero-padded corner


def _build(dataset: str, recipe: str = "", options: dict | None = None, **flags):
    method, data = create_method("slayer"), create_dataset(dataset)
    cfg = resolve_config(method, data, {"recipe": recipe, **flags}, options)
    shape = (2, 34, 34) if "nmnist" in dataset else (1, 28, 28)
    return method.build(parse_arch(cfg.arch), shape, 10, cfg), cfg


def test_paper_networks_and_maintainer_recipe():
    net, cfg = _build("nmnist")
    assert cfg.arch == "12C5-P2-64C5-P2" and cfg.steps == 300 and cfg.batch_size == 12
    assert cfg.optimizer == "slayer-nadam" and cfg.lr == 0.01 and cfg.augment == "jitter:8"
    o = cfg.options.as_dict()
    assert (o["theta"], o["tau_sr"], o["tau_ref"], o["scale_ref"], o["tau_rho"], o["scale_rho"]) == (
        10.0, 1.0, 1.0, 2.0, 0.1, 0.25)
    assert (o["true_count"], o["false_count"]) == (60.0, 10.0)
    assert sum(p.numel() for p in net.parameters()) == 2 * 12 * 25 + 12 * 64 * 25 + 6 * 6 * 64 * 10
    out = net(torch.zeros(300, 1, 2, 34, 34))
    assert out.shape == (300, 1, 10)
    subset = resolve_config(create_method("slayer"), create_dataset("nmnist-1k"))
    assert subset.arch == "500-500" and subset.augment == "none" and subset.options.tau_rho == 1.0
    for static in ("mnist", "fashion-mnist"):  # snnbench's recipes: the example's PDF (the narrow one fell silent)
        options = resolve_config(create_method("slayer"), create_dataset(static)).options
        assert (options.tau_rho, options.scale_rho, options.theta) == (1.0, 1.0, 10.0)
    mlp, _ = _build("nmnist", "mlp")
    assert sum(p.numel() for p in mlp.parameters()) == 2312 * 500 + 500 * 500 + 500 * 10


def test_weights_start_at_the_default_times_the_scale():
    net, _ = _build("nmnist")
    layers = [m for m in net.modules() if isinstance(m, SRMLayer)]
    conv = layers[0].synapse.module
    bound = float(conv.weight.detach().abs().max())
    assert 50 / 50**0.5 < bound <= 100 / 50**0.5
    dense = layers[-1].synapse.module
    assert float(dense.weight.detach().abs().max()) <= 10 / 2304**0.5
    # psp runs on the smaller side of each synapse: before conv1 (2312 < 10800), after the pools
    assert [m.psp_first for m in layers] == [True, False, True, False, False]


def test_psp_before_or_after_the_synapse_is_the_same_layer():
    torch.manual_seed(0)
    params = SRMParams(tau_sr=4.0)
    synapse = torch.nn.Linear(30, 20, bias=False)
    torch.nn.init.uniform_(synapse.weight, -3, 3)
    first = SRMLayer(TimeDistributed(synapse), params, psp_first=True, backend="torch")
    after = SRMLayer(TimeDistributed(synapse), params, psp_first=False, backend="torch")
    x = (torch.rand(50, 4, 30) < 0.3).double()
    synapse.double()
    torch.testing.assert_close(first(x), after(x))


def test_scores_are_spike_counts_and_bad_options_are_named():
    method = SLAYER()
    cfg = resolve_config(method, create_dataset("digits"), {})
    out = torch.zeros(5, 2, 3)
    out[:, 0, 2] = 1
    out[:2, 1, 1] = 1
    assert method.scores(out, cfg).argmax(1).tolist() == [2, 1]
    with pytest.raises(ConfigError, match="valid psp_form values"):
        _build("digits", options={"psp_form": "wavelet"})
    with pytest.raises(ConfigError, match="fixed sums"):
        _build("digits", arch="MP2-10")


def test_exact_reset_option_changes_the_gradient():
    grads = []
    for exact in (False, True):
        torch.manual_seed(0)
        net, cfg = _build("nmnist", arch="40", steps=40, options={"exact_reset": exact, "backend": "torch"})
        x = (torch.rand(40, 2, 2, 34, 34) < 0.1).float()
        SLAYER().loss(net(x), torch.tensor([1, 2]), cfg).backward()
        grads.append(next(net.parameters()).grad.clone())
    assert grads[0].abs().sum() > 0 and not torch.allclose(grads[0], grads[1])


def test_slayer_learns_digits(short_run):
    record = short_run("slayer", "digits", epochs=6)
    assert record["results"]["test_acc_last"] >= 85.0, record["curves"]


def test_slayer_trains_on_real_nmnist_1k(mirror, short_run):
    record = short_run("slayer", "nmnist-1k", mirror, epochs=1, max_train_samples=48, max_test_samples=24)
    assert record["status"] == "completed" and record["steps"] == 300
    assert len(record["firing"]) == 3 and all(layer["neurons"] for layer in record["firing"].values())
    assert record["dataset_info"]["files"] and record["curves"][0]["train_loss"] > 0

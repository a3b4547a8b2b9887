import math

import pytest
import torch

from snnbench.arch import parse_arch
from snnbench.config import resolve_config
from snnbench.methods.layers import LIF, NeuNorm, ResBlock
from snnbench.registry import create_dataset, create_method


def cfg_for(method="stbp", dataset="digits", **sets):
    return resolve_config(create_method(method), create_dataset(dataset), {}, sets)


def test_every_layer_spikes_and_readout_is_the_rate():
    cfg = cfg_for(arch="32-16")
    net = create_method("stbp").build(parse_arch(cfg.arch), (1, 8, 8), 10, cfg)
    assert sum(isinstance(m, LIF) for m in net.modules()) == 3  # two hidden layers and the output
    out = net(torch.randn(cfg.steps, 5, 1, 8, 8))
    assert out.shape == (cfg.steps, 5, 10) and set(out.unique().tolist()) <= {0.0, 1.0}
    scores = create_method("stbp").scores(out, cfg)
    assert torch.equal(scores, out.mean(0))


def test_rate_mse_loss_is_the_mean_over_batch_and_classes():
    cfg = cfg_for()
    out = torch.zeros(4, 2, 10)
    out[:, 0, 3] = 1  # sample 0: rate 1 on its label 3; sample 1: all silent, label 5
    loss = create_method("stbp").loss(out, torch.tensor([3, 5]), cfg)
    assert loss.item() == pytest.approx(1 / 20)


def test_voting_averages_groups_of_output_neurons():
    cfg = cfg_for(**{"options.vote": 3})
    method = create_method("stbp")
    net = method.build(parse_arch("16"), (1, 8, 8), 10, cfg)
    assert net.layers[-2].module.out_features == 30
    out = torch.zeros(2, 1, 30)
    out[:, 0, 3:6] = torch.tensor([1.0, 0.0, 1.0])
    assert method.scores(out, cfg)[0, 1].item() == pytest.approx(2 / 3)


def test_neunorm_follows_its_recurrence():
    norm = NeuNorm(2, 1, 1, k=0.9)
    with torch.no_grad():
        norm.weight.fill_(2.0)
    spikes = torch.ones(2, 1, 2, 1, 1)
    out = norm(spikes)
    x1 = 0.1 / 4 * 2
    x2 = 0.9 * x1 + 0.1 / 4 * 2
    assert out[0].flatten().tolist() == pytest.approx([1 - 2 * x1] * 2)
    assert out[1].flatten().tolist() == pytest.approx([1 - 2 * x2] * 2)
    cfg = cfg_for(arch="4C3p1-P2", neunorm=True)
    net = create_method("stbp").build(parse_arch(cfg.arch), (1, 8, 8), 10, cfg)
    assert any(isinstance(m, NeuNorm) for m in net.modules())


def test_tdbn_resnet19_builds_with_alpha_vth_init_and_runs():
    cfg = cfg_for("stbp-tdbn", "cifar10-jpeg")
    assert cfg.arch == "resnet19" and cfg.options.tdbn
    net = create_method("stbp-tdbn").build(parse_arch(cfg.arch), (3, 32, 32), 10, cfg)
    blocks = [m for m in net.modules() if isinstance(m, ResBlock)]
    assert len(blocks) == 8
    th = cfg.options.threshold
    assert torch.allclose(blocks[0].conv1.module[1].weight, torch.full((128,), th))
    assert torch.allclose(blocks[0].conv2.module[1].weight, torch.full((128,), th / math.sqrt(2)))
    out = net(torch.randn(cfg.steps, 2, 3, 32, 32))
    assert out.shape == (cfg.steps, 2, 10)


def test_tdbn_statistics_pool_batch_and_time():
    cfg = cfg_for(arch="3C3p1", tdbn=True)
    net = create_method("stbp").build(parse_arch(cfg.arch), (1, 8, 8), 10, cfg)
    conv, bn = net.layers[0].module
    x = torch.randn(cfg.steps, 4, 1, 8, 8)
    net.train()
    with torch.no_grad():
        pre = conv(x.flatten(0, 1))
        net(x)
    expected = 0.1 * pre.mean((0, 2, 3))  # momentum 0.1 from a zero running mean
    torch.testing.assert_close(bn.running_mean, expected, rtol=1e-4, atol=1e-6)


def test_tdbn_normalises_hidden_dense_layers_per_neuron_over_batch_and_time():
    """STBP-tdBN's MLPs: a BatchNorm1d (weight α·V_th, no linear bias) after each hidden fully connected
    layer, whose statistics pool batch and time per neuron; none on the output. ``tdbn_dense=false`` builds
    STBP's network exactly (what the stbp-tdbn records before the option ran)."""
    method = create_method("stbp-tdbn")
    cfg = cfg_for("stbp-tdbn", "yin-yang")
    assert cfg.arch == "120" and cfg.options.tdbn_dense is True
    net = method.build(parse_arch("20-30"), (4,), 3, cfg)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert [bn.num_features for bn in norms] == [20, 30]
    assert all(torch.equal(bn.weight, torch.full_like(bn.weight, cfg.options.threshold)) for bn in norms)
    linear, bn = net.layers[0].module
    assert linear.bias is None and net.layers[-2].module.bias is not None  # the output layer keeps its bias
    x = torch.randn(cfg.steps, 5, 4)
    net.train()
    with torch.no_grad():
        pre = linear(x.flatten(0, 1))
        net(x)
    torch.testing.assert_close(bn.running_mean, 0.1 * pre.mean(0), rtol=1e-4, atol=1e-6)
    plain = cfg_for("stbp-tdbn", "yin-yang", tdbn_dense=False)
    torch.manual_seed(0)
    without = method.build(parse_arch("20-30"), (4,), 3, plain)
    torch.manual_seed(0)
    stbp = create_method("stbp").build(parse_arch("20-30"), (4,), 3, cfg_for("stbp", "yin-yang"))
    ours, theirs = without.state_dict(), stbp.state_dict()
    assert list(ours) == list(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_stbp_learns_real_mnist(mirror, short_run):
    """A short real-data regression check: 1 epoch on 6000 MNIST images reaches >= 93%."""
    record = short_run("stbp", "mnist", mirror, epochs=1, max_train_samples=6000, max_test_samples=2000)
    assert record["dataset_info"]["sizes"] == {"train": 6000, "val": 600, "test": 2000}
    assert record["results"]["test_acc_last"] >= 93.0

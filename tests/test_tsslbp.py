"""TSSL-BP rule around the neuron: input filter, pooling, dropout, losses against their formulas,
recipes, and learning on real data (digits; a short MNIST run)."""

import pytest
import torch

from snnbench.arch import parse_arch
from snnbench.config import ConfigError, resolve_config
from snnbench.methods.layers import SumPool
from snnbench.methods.tsslbp import (
    PSPFilter,
    RowDropout,
    TSSLBPNeuron,
    count_loss,
    desired_pattern,
    kernel_loss,
    kernel_target,
    psp,
)
from snnbench.registry import create_dataset, create_method


def cfg_for(dataset="digits", flags=None, **sets):
    return resolve_config(create_method("tsslbp"), create_dataset(dataset), flags or {}, sets)


def test_psp_filter_ramps_a_constant_input_as_the_spec_says():
    out = psp(torch.ones(5, 1), 3.0).flatten()
    expected = [1 - (2 / 3) ** (t + 1) for t in range(5)]  # .333, .556, .704, .802, .868
    assert out.tolist() == pytest.approx(expected, rel=1e-6)


def test_psp_filter_is_the_reference_recurrence_bit_for_bit_and_its_caches_are_bounded():
    from snnbench.kernels import filters

    x = (torch.rand(40, 3, 7, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    weights = torch.zeros(40, 40, dtype=torch.float64)  # the reference's recurrence run on the identity
    syn = torch.zeros(40, dtype=torch.float64)
    for t in range(40):
        syn = syn - syn / 5.0 + torch.eye(40, dtype=torch.float64)[t]
        weights[t] = syn / 5.0
    expected = (weights.float() @ x.reshape(40, -1)).reshape(x.shape)
    assert torch.equal(psp(x, 5.0), expected)
    for steps in range(2, 2 + 2 * filters.CACHE_SIZE):  # a sweep over T does not grow the caches
        psp(torch.ones(steps, 1), 5.0)
    assert filters._toeplitz.cache_info().currsize <= filters.CACHE_SIZE
    assert filters.exponential_kernel.cache_info().currsize <= filters.CACHE_SIZE


def test_kernel_target_is_the_double_filtered_pattern():
    assert desired_pattern(5, "head").tolist() == [0, 1, 1, 1, 1]
    assert desired_pattern(12, "head").tolist() == [0, 1] * 6
    assert desired_pattern(7, "paper").tolist() == [0, 1, 0, 1, 1, 0, 1]
    assert desired_pattern(4, "0011").tolist() == [0, 0, 1, 1]
    assert kernel_target(5, 3.0).tolist() == pytest.approx([0, 0.1111, 0.2593, 0.4074, 0.5391], abs=1e-4)
    assert kernel_target(5, 3.0, filters=1).tolist() == pytest.approx([0, 0.3333, 0.5556, 0.7037, 0.8025],
                                                                      abs=1e-4)
    with pytest.raises(ConfigError, match="head, paper or a string"):
        desired_pattern(5, "0120")


def test_kernel_loss_is_half_the_summed_squared_error():
    torch.manual_seed(0)
    psc = torch.rand(5, 3, 4, requires_grad=True)
    labels = torch.tensor([0, 2, 3])
    target = kernel_target(5, 3.0)
    loss = kernel_loss(psc, labels, target)
    by_hand = 0.0
    for b in range(3):
        for k in range(4):
            goal = target if k == labels[b] else torch.zeros(5)
            by_hand += 0.5 * float(((psc[:, b, k] - goal) ** 2).sum())
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)
    loss.backward()
    goal = target.view(5, 1, 1) * torch.nn.functional.one_hot(labels, 4)
    torch.testing.assert_close(psc.grad, psc.detach() - goal)


def test_count_loss_hinge_and_straight_through_gradient():
    steps = 4
    # PSC sums per (sample, class): label 0 of sample 0 below desired (2 < 3), class 1 above undesired
    # (1.5 > 1), class 2 below undesired (0.5 < 1); sample 1's label 2 above desired (4 > 3)
    sums = torch.tensor([[2.0, 1.5, 0.5], [0.2, 0.8, 4.0]])
    psc = (sums / steps).unsqueeze(0).repeat(steps, 1, 1).requires_grad_()
    loss = count_loss(psc, torch.tensor([0, 2]), desired=3.0, undesired=1.0)
    delta = torch.tensor([[(2 - 3) / 4, (1.5 - 1) / 4, 0.0], [0.0, 0.0, 0.0]])
    assert loss.item() == pytest.approx(0.5 * steps * float((delta ** 2).sum()), rel=1e-6)
    loss.backward()
    torch.testing.assert_close(psc.grad, delta.expand(steps, 2, 3))


def test_sum_pool_is_fixed_1_1_times_the_window_sum():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = SumPool(2)(x)
    assert out.flatten().tolist() == pytest.approx([1.1 * v for v in (10, 18, 42, 50)])
    assert not list(SumPool(2).parameters())
    cfg = cfg_for(arch="4C3-P2")  # 8x8 -> 6x6 -> 3x3 is fine; 5x5 would not divide
    create_method("tsslbp").build(parse_arch(cfg.arch), (1, 8, 8), 10, cfg)
    with pytest.raises(ConfigError, match="divisible by 2, got 5x5"):
        create_method("tsslbp").build(parse_arch("4C4-P2"), (1, 8, 8), 10, cfg)


def test_row_dropout_mask_is_shared_over_time_and_width():
    torch.manual_seed(0)
    drop = RowDropout(0.5)
    out = drop(torch.ones(3, 8, 4, 6, 5))
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(out[0], out[2])  # same mask at every time step
    assert torch.equal(out[..., :1].expand_as(out), out)  # whole rows dropped
    fc = drop(torch.ones(3, 64, 30))
    assert torch.equal(fc[0], fc[1]) and 0.3 < float((fc[0] == 0).float().mean()) < 0.7
    drop.eval()
    assert torch.equal(drop(torch.ones(2, 2, 3)), torch.ones(2, 2, 3))


def test_network_follows_the_reference_layout():
    cfg = cfg_for("mnist")
    assert (cfg.arch, cfg.steps, cfg.batch_size, cfg.lr, cfg.optimizer, cfg.weight_decay, cfg.grad_clip) == (
        "15C5-P2-40C5-P2-300", 5, 50, 5e-4, "adamw", 0.01, 1.0)
    method = create_method("tsslbp")
    net = method.build(parse_arch(cfg.arch), (1, 28, 28), 10, cfg)
    assert isinstance(net.layers[0], PSPFilter)
    assert sum(p.numel() for p in net.parameters()) == 210375  # the reproduction report's count: no biases
    assert sum(isinstance(m, TSSLBPNeuron) for m in net.modules()) == 4
    out = net(torch.rand(5, 2, 1, 28, 28))
    assert out.shape == (5, 2, 10) and out.min() >= 0 and out.max() <= 1  # PSCs
    torch.testing.assert_close(method.scores(out, cfg), out.sum(0))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(9.0)
    method.after_step(net, cfg)
    assert max(float(p.abs().max()) for p in net.parameters()) == 4.0


def test_recipes_for_every_network_in_the_config_table():
    nmnist = cfg_for("nmnist")
    assert (nmnist.arch, nmnist.steps, nmnist.options.loss, nmnist.options.tau_m, nmnist.options.tau_s,
            nmnist.event_binning, nmnist.event_window_us) == ("12C5p1-P2-64C5-P2", 30, "count", 8.0, 4.0,
                                                              "time_window", 3000)
    assert cfg_for("nmnist-1k").steps == 30  # a variant shares its family's recipe
    assert cfg_for("nmnist", {"recipe": "t100"}).steps == 100
    assert cfg_for("fashion-mnist").arch == "400-400"
    assert cfg_for("fashion-mnist", {"recipe": "cnn"}).arch == "32C5p2-P2-64C5p2-P2-1024"
    cifar = cfg_for("cifar10-jpeg")
    assert cifar.lr == 2e-4 and cifar.augment == "crop_flip"
    # Networks/CIFAR10.yaml: weight_scale 5 for the convs, 1 for FC_1, FC_2 and the output
    assert (cifar.options.weight_scale_conv, cifar.options.weight_scale_dense) == (5.0, 1.0)
    assert cifar.arch.count("D0.2") == 7
    # CNN2 with CNN1's dropout 0.2 (MLRC 2020)
    cnn2 = "128C3p1-256C3p1-P2-512C3p1-P2-1024C3p1-512C3p1-1024-512"
    assert cfg_for("cifar10", {"recipe": "cnn2"}).arch.replace("-D0.2", "") == cnn2
    with pytest.raises(ConfigError, match="valid recipes: t100"):
        cfg_for("nmnist", {"recipe": "t50"})


def test_conv_weights_uniform_times_weight_scale():
    cfg = cfg_for(arch="8C3", weight_scale_conv=5.0)
    torch.manual_seed(0)
    net = create_method("tsslbp").build(parse_arch(cfg.arch), (3, 8, 8), 10, cfg)
    conv = net.layers[1].module
    bound = 5.0 / (3 * 9) ** 0.5
    largest = float(conv.weight.abs().max())
    assert conv.bias is None and 0.8 * bound < largest <= bound


def test_cifar_recipe_scales_convs_by_5_and_fc_layers_by_1():
    """Networks/CIFAR10.yaml: conv weights x5, FC_1, FC_2 and the output x1 (Kaiming-normal std sqrt(2/fan_in))."""
    cfg = cfg_for("cifar10")
    torch.manual_seed(0)
    net = create_method("tsslbp").build(parse_arch(cfg.arch), (3, 32, 32), 10, cfg)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    fcs = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) == 5 and len(fcs) == 3
    for conv in convs:
        bound = 5.0 / (conv.weight[0].numel()) ** 0.5
        assert 0.9 * bound < float(conv.weight.abs().max()) <= bound
    for fc in fcs:
        expected = (2.0 / fc.in_features) ** 0.5
        assert float(fc.weight.std()) == pytest.approx(expected, rel=0.1)


def test_ablation_options_reach_the_neuron():
    cfg = cfg_for(arch="16", intra=False, reset="subtract", warmup="layer_switch", warmup_rate=0.1, backend="torch")
    net = create_method("tsslbp").build(parse_arch(cfg.arch), (1, 8, 8), 10, cfg)
    neuron = next(m for m in net.modules() if isinstance(m, TSSLBPNeuron))
    p = neuron.params
    expected = (False, "subtract", "layer_switch", 0.1, "torch")
    assert (p.intra, p.reset, p.warmup, p.warmup_rate, neuron.backend) == expected
    with pytest.raises(ConfigError, match="valid reset values: zero, subtract"):
        cfg_for(arch="16", reset="hard")  # refused when the config resolves, before any build or data


def test_tsslbp_learns_digits(short_run):
    record = short_run("tsslbp", "digits", epochs=8)
    assert record["results"]["test_acc_at_best_val"] >= 93.0
    layers = record["firing"]
    assert layers and all(0 < v["mean_rate"] < 1 for v in layers.values())


def test_tsslbp_learns_real_mnist(mirror, short_run):
    """Short real-data check, paper network and recipe: 1 epoch on 6000 MNIST images (89.8% on the full test set)."""
    record = short_run("tsslbp", "mnist", mirror, epochs=1, max_train_samples=6000, max_test_samples=2000)
    assert record["results"]["test_acc_last"] >= 85.0

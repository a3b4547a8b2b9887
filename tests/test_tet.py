"""TET: loss against its formula, network layout, recipes, time-inheritance training, learning."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from snnbench.arch import parse_arch
from snnbench.config import ConfigError, resolve_config
from snnbench.engine import RuntimeOptions, train
from snnbench.methods.layers import LIF, ResBlock
from snnbench.methods.tet import sdt_loss, tet_loss
from snnbench.registry import create_dataset, create_method


def cfg_for(dataset="digits", flags=None, **sets):
    return resolve_config(create_method("tet"), create_dataset(dataset), flags or {}, sets)


def test_tet_loss_matches_its_formula():
    torch.manual_seed(0)
    out = torch.randn(3, 4, 5)
    labels = torch.tensor([0, 1, 4, 2])
    lam, phi = 0.05, 1.0
    ce = sum(F.cross_entropy(out[t], labels) for t in range(3)) / 3
    mse = sum(float((out[t, b, k] - phi) ** 2) for t in range(3) for b in range(4) for k in range(5)) / 60
    assert tet_loss(out, labels, lam, phi).item() == pytest.approx((1 - lam) * float(ce) + lam * mse, rel=1e-6)
    assert tet_loss(out, labels, 0.0, phi).item() == pytest.approx(float(ce), rel=1e-6)
    assert sdt_loss(out, labels).item() == pytest.approx(float(F.cross_entropy(out.mean(0), labels)), rel=1e-6)
    # TET is not SDT: per-step CEs differ from the CE of the mean output whenever the steps disagree
    assert abs(tet_loss(out, labels, 0.0, phi).item() - sdt_loss(out, labels).item()) > 1e-3
    same = out[:1].expand(3, 4, 5)  # identical steps: the two losses coincide
    assert tet_loss(same, labels, 0.0, phi).item() == pytest.approx(sdt_loss(same, labels).item(), rel=1e-6)


def test_network_layout_and_neuron():
    cfg = cfg_for(arch="8C3p1-AP2-32")
    assert (cfg.options.decay, cfg.options.threshold, cfg.options.surrogate, cfg.options.reset,
            cfg.options.detach_reset) == (0.5, 1.0, "triangle", "zero", False)
    method = create_method("tet")
    net = method.build(parse_arch(cfg.arch), (1, 8, 8), 10, cfg)
    assert isinstance(net.layers[0].module[1], torch.nn.BatchNorm2d)
    assert sum(isinstance(m, LIF) for m in net.modules()) == 2  # conv and hidden FC; not the output
    out = net(torch.randn(cfg.steps, 3, 1, 8, 8))
    assert out.shape == (cfg.steps, 3, 10) and not set(out.unique().tolist()) <= {0.0, 1.0}  # logits
    torch.testing.assert_close(method.scores(out, cfg), out.mean(0))
    with pytest.raises(ConfigError, match="valid loss values: tet, sdt"):
        bad = cfg_for(arch="16", loss="ce")
        method.build(parse_arch(bad.arch), (1, 8, 8), 10, bad)


def test_resnet19_uses_plain_bn():
    cfg = cfg_for("cifar10-jpeg")
    assert (cfg.arch, cfg.optimizer, cfg.lr_schedule, cfg.augment, cfg.options.lam) == (
        "resnet19", "adam", "cosine", "crop_flip", 0.05)
    net = create_method("tet").build(parse_arch(cfg.arch), (3, 32, 32), 10, cfg)
    block = next(m for m in net.modules() if isinstance(m, ResBlock))
    assert torch.equal(block.conv2.module[1].weight, torch.ones(128))  # gamma 1, not 1/sqrt2
    assert net(torch.randn(2, 2, 3, 32, 32)).shape == (2, 2, 10)


def test_recipes_cover_every_dataset():
    dvs = cfg_for("cifar10-dvs")
    assert (dvs.arch, dvs.steps, dvs.event_size, dvs.event_binning, dvs.augment, dvs.options.lam) == (
        "vggsnn", 10, 48, "n_event_bins", "flip_roll", 0.001)
    for name in ("mnist", "fashion-mnist", "nmnist", "nmnist-1k", "cifar10", "digits"):
        assert cfg_for(name).arch
    tit = cfg_for("cifar10", {"recipe": "tit"})
    assert (tit.steps, tit.epochs, tit.lr) == (4, 50, 1e-4)


def test_time_inheritance_chain_records_lineage(tmp_path):
    runtime = RuntimeOptions(device="cpu", data_dir=str(tmp_path / "c"), out=tmp_path / "runs")
    first, first_path = train(cfg_for(flags={"steps": 2, "epochs": 2}), runtime)
    second, _ = train(cfg_for(flags={"steps": 4, "epochs": 1, "init_from": str(first_path)}), runtime)
    assert second["lineage"] == [{"run_id": first["run_id"], "config_hash": first["config_hash"], "steps": 2,
                                  "epochs": 2, "train_time_s": first["cost"]["train_time_s"]}]
    assert second["cost"]["total_train_time_s"] == pytest.approx(
        first["cost"]["train_time_s"] + second["cost"]["train_time_s"])
    # a warm start: after one epoch at T = 4 it is already as good as the two-epoch T = 2 run, give or take
    assert second["curves"][0]["test_acc"] >= first["curves"][-1]["test_acc"] - 3
    # from the checkpoint file too; a chain of three keeps both ancestors
    checkpoint = str(first_path.parent / first["checkpoint"])  # stored relative to the record
    third, _ = train(cfg_for(flags={"steps": 6, "epochs": 1, "init_from": checkpoint}), runtime)
    assert third["lineage"][0]["steps"] == 2 and third["lineage"][0]["epochs"] == 2
    record_path = tmp_path / "runs" / "second.json"
    record_path.write_text(json.dumps(second))
    fourth, _ = train(cfg_for(flags={"steps": 6, "epochs": 1, "init_from": str(record_path)}), runtime)
    assert [p["steps"] for p in fourth["lineage"]] == [2, 4]
    with pytest.raises(ConfigError, match="does not match"):
        train(cfg_for(flags={"arch": "64", "epochs": 1, "init_from": checkpoint}), runtime)


def test_tet_learns_digits(short_run):
    record = short_run("tet", "digits", epochs=8)
    assert record["results"]["test_acc_at_best_val"] >= 93.0


def test_tet_trains_on_real_mnist(mirror, short_run):
    record = short_run("tet", "mnist", mirror, epochs=1, max_train_samples=3000, max_test_samples=1000)
    assert record["results"]["test_acc_last"] >= 85.0
    assert math.isfinite(record["curves"][0]["train_loss"])

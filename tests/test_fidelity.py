"""Recipe fidelity against the reference codes, and the comparison protocol (issue: numbers a
reviewer can trust)."""

from __future__ import annotations

import math

import pytest
import torch

from snnbench.arch import parse_arch
from snnbench.config import resolve_config
from snnbench.leaderboard import Row, load_published
from snnbench.optim import SlayerNadam, lr_at, make_optimizer
from snnbench.registry import create_dataset, create_method


def test_slayer_nadam_is_slayerpytorchs_update_with_constant_beta1():
    """slayerPytorch src/optimizer.py: p -= lr·sqrt(1-b2^t)/(1-b1^t)·(b1·m + (1-b1)·g)/(sqrt(v)+eps)."""
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = SlayerNadam([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    m = v = torch.zeros(2, dtype=torch.float64)
    expected = p.detach().double().clone()
    for t, g in enumerate([torch.tensor([0.5, -1.0]), torch.tensor([0.25, 2.0]), torch.tensor([-1.0, 0.1])], 1):
        p.grad = g.clone()
        opt.step()
        g = g.double()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        step = 0.1 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        expected -= step * (0.9 * m + 0.1 * g) / (v.sqrt() + 1e-8)
        torch.testing.assert_close(p.detach().double(), expected, rtol=1e-6, atol=1e-7)
    # unlike torch's NAdam (momentum schedule mu_t = 0.9·(1 - 0.5·0.96^(t·0.004)) ≈ 0.45 at first)
    q = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    torch_opt = torch.optim.NAdam([q], lr=0.1)
    q.grad = torch.tensor([0.5, -1.0])
    torch_opt.step()
    p2 = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    ours = SlayerNadam([p2], lr=0.1)
    p2.grad = torch.tensor([0.5, -1.0])
    ours.step()
    assert not torch.allclose(p2, q)


def test_slayer_recipes_use_slayerpytorchs_nadam_and_torchs_stays_available():
    method = create_method("slayer")
    for dataset in ("nmnist", "nmnist-1k", "mnist", "digits"):
        assert resolve_config(method, create_dataset(dataset)).optimizer == "slayer-nadam"
    cfg = resolve_config(method, create_dataset("digits"), {}, {"optimizer": "nadam"})
    model = torch.nn.Linear(2, 2)
    assert isinstance(make_optimizer([{"name": "all", "params": list(model.parameters())}], cfg), torch.optim.NAdam)


def test_stbp_cifarnet_fc_layers_learn_at_a_tenth_of_the_conv_rate():
    method = create_method("stbp")
    cfg = resolve_config(method, create_dataset("cifar10-jpeg"), {"arch": "8C3p1-AP2-16-D0.5-12"})
    assert cfg.options["fc_lr_scale"] == 0.1 and cfg.lr == 0.1
    model = method.build(parse_arch(cfg.arch), (3, 32, 32), 10, cfg)
    opt = make_optimizer(method.param_groups(model, cfg), cfg)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["conv"]["lr"] == pytest.approx(0.1) and groups["fc"]["lr"] == pytest.approx(0.01)
    fc_params = {id(p) for m in model.modules() if isinstance(m, torch.nn.Linear) for p in m.parameters()}
    assert {id(p) for p in groups["fc"]["params"]} == fc_params and len(fc_params) == 6  # fc1, fc2, fc3
    assert len(method.param_groups(model, resolve_config(method, create_dataset("digits")))) == 1


def test_step_schedule_decays_when_the_reference_does():
    """STBP's lr_scheduler decays at the end of epoch index 35: the decayed rate applies from index 36."""
    cfg = resolve_config(create_method("stbp"), create_dataset("cifar10-jpeg"))
    assert (cfg.lr_schedule, cfg.lr_step_epochs) == ("step", 35)
    assert lr_at(35, cfg) == pytest.approx(0.1) and lr_at(36, cfg) == pytest.approx(0.01)
    assert lr_at(70, cfg) == pytest.approx(0.01) and lr_at(71, cfg) == pytest.approx(0.001)


def test_tet_resnet19_stem_has_no_bias_and_default_init_vgg_convs_keep_theirs():
    method = create_method("tet")
    cfg = resolve_config(method, create_dataset("cifar10-jpeg"), {"arch": "resnet19"})
    torch.manual_seed(0)
    model = method.build(parse_arch(cfg.arch), (3, 32, 32), 10, cfg)
    stem = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert stem.bias is None
    bound = 1 / math.sqrt(3 * 9)  # PyTorch's default: kaiming_uniform(a=√5) → U(±1/√fan_in)
    assert float(stem.weight.abs().max()) <= bound
    vgg = method.build(parse_arch("16C3p1-AP2-32C3p1"), (2, 16, 16), 10, cfg)
    assert all(m.bias is not None for m in vgg.modules() if isinstance(m, torch.nn.Conv2d))


def _row(epochs: int, options: str = "", recipe: str = "recipe") -> Row:
    row = Row("mnist", "tsslbp", options, "15C5-P2-40C5-P2-300", 5, epochs, recipe, "H100")
    row.seeds, row.accuracies, row.max_test = [0, 1], [99.3, 99.3], [99.38, 99.4]
    return row


def test_published_numbers_are_compared_only_at_the_same_budget_and_recipe():
    pub = next(p for p in load_published() if (p["method"], p["dataset"], p["steps"]) == ("tsslbp", "mnist", 5))
    pub = {**pub, "text": "99.50"}
    short = _row(30)
    short.published = pub
    assert short.summary()["diff_vs_published"] is None and short.summary()["published_note"] == "budget differs"
    full = _row(100)
    full.published = pub
    s = full.summary()
    assert s["diff_vs_published"] == pytest.approx(-0.2) and s["diff_max_test_vs_published"] == pytest.approx(-0.11)
    tweaked = _row(100, options="tau_m=6.0")
    tweaked.published = pub
    assert tweaked.summary()["diff_vs_published"] is None
    tit = next(p for p in load_published() if p["method"] == "tet" and p["steps"] == 4)
    assert tit["recipe"] == "tit"
    stage = Row("cifar10", "tet", "", "resnet19", 4, 50, "recipe", "H100", [0], [94.0], [94.1])
    stage.published = {**tit, "text": "x"}
    assert stage.summary()["diff_vs_published"] is None  # a T=4 run without its TIT stage is not the paper's


def test_repeat_runs_of_one_seed_count_once_latest_wins():
    row = Row("digits", "stbp", "", "128", 8, 2, "recipe", "cpu")
    base = {"ms_per_step": None, "peak_mib": None, "sparsity": None, "ops": None, "params": 10,
            "train_time_s": 1.0, "epoch_time_s": 0.5}
    row.add("a.json", {"seed": 0, "finished_at": "2026-01-01"}, {**base, "accuracy": 90.0, "max_test": 91.0})
    row.add("b.json", {"seed": 0, "finished_at": "2026-01-02"}, {**base, "accuracy": 95.0, "max_test": 96.0})
    row.add("c.json", {"seed": 0, "finished_at": "2025-12-31"}, {**base, "accuracy": 10.0, "max_test": 11.0})
    assert row.seeds == [0] and row.accuracies == [95.0] and row.runs == ["b.json"]
    # optional values follow the kept run of each seed (a timed seed 1, then seed 0 replaced untimed)
    row.add("d.json", {"seed": 1, "finished_at": "2026-01-03"}, {**base, "accuracy": 97.0, "max_test": 97.0,
                                                                 "ms_per_step": 5.0})
    row.add("e.json", {"seed": 0, "finished_at": "2026-01-04"}, {**base, "accuracy": 96.0, "max_test": 96.5})
    assert row.seeds == [0, 1] and row.accuracies == [96.0, 97.0] and row.ms_per_step == [5.0]

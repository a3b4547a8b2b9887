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
    assert cfg.options.fc_lr_scale == 0.1 and cfg.lr == 0.1
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
    assert float(stem.weight.detach().abs().max()) <= bound
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
    row.add("a.json", 0, "2026-01-01", {**base, "accuracy": 90.0, "max_test": 91.0})
    row.add("b.json", 0, "2026-01-02", {**base, "accuracy": 95.0, "max_test": 96.0})
    row.add("c.json", 0, "2025-12-31", {**base, "accuracy": 10.0, "max_test": 11.0})
    assert row.seeds == [0] and row.accuracies == [95.0] and row.runs == ["b.json"]
    # optional values follow the kept run of each seed (a timed seed 1, then seed 0 replaced untimed)
    row.add("d.json", 1, "2026-01-03", {**base, "accuracy": 97.0, "max_test": 97.0,
                                                                 "ms_per_step": 5.0})
    row.add("e.json", 0, "2026-01-04", {**base, "accuracy": 96.0, "max_test": 96.5})
    assert row.seeds == [0, 1] and row.accuracies == [96.0, 97.0] and row.ms_per_step == [5.0]


# ---- 1.4: CIFAR10-DVS frames resized as TET's loader does ----------------------------------------
def _sparse_dvs_frames(make_recording, seed: int = 0):
    import numpy as np

    from snnbench.events import Binning, bin_events

    events = make_recording(np.random.default_rng(seed), 3000, 110, duration_us=1_000_000, low=20)
    return bin_events(events, (128, 128, 2), 10, Binning("n_event_bins", 0, "max_norm"))


def _tet_resize(frames):
    """TET's data_loaders.DVSCifar10: ToPILImage → Resize(size=(48, 48)) → ToTensor, frame by frame."""
    transforms = pytest.importorskip("torchvision.transforms",
                                     reason="torchvision is not installed (pip install -e '.[peers]')")

    to_pil, resize, to_tensor = transforms.ToPILImage(), transforms.Resize(size=(48, 48)), transforms.ToTensor()
    return torch.stack([to_tensor(resize(to_pil(torch.from_numpy(f)))) for f in frames])


def test_dvs_frames_are_resized_exactly_as_tets_loader_does(make_recording):
    from snnbench.events import resize_frames

    frames = _sparse_dvs_frames(make_recording)
    reference = _tet_resize(frames)
    ours = torch.from_numpy(resize_frames(frames, 48, "pil"))
    assert torch.equal(ours, reference)
    old = torch.from_numpy(resize_frames(frames, 48, "bilinear"))  # what snnbench did before
    assert float((old - reference).norm() / reference.norm()) > 0.3
    for method in ("tet", "stbp"):
        cfg = resolve_config(create_method(method), create_dataset("cifar10-dvs"))
        assert (cfg.event_size, cfg.event_resize, cfg.event_values) == (48, "pil", "max_norm")


def test_dvs_frame_cache_stores_tets_8_bit_levels_exactly(tmp_path, make_recording):
    import numpy as np

    from snnbench.datasets.base import EventDataset
    from snnbench.events import Binning, bin_events
    from snnbench.files import DataContext

    rng = np.random.default_rng(1)
    recordings = [make_recording(rng, 500, 128) for _ in range(3)]

    class Dvs(EventDataset):
        name, input_shape, sensor_size = "dvs-like", (2, 128, 128), (128, 128, 2)

        def read_events(self, split, paths):
            return recordings, np.zeros(3, dtype=np.int64)

    binning = Binning("n_event_bins", 0, "max_norm", size=48)
    split = Dvs().load("train", DataContext(tmp_path), 10, binning)
    assert split.frames.storage == "unorm8"
    for i, ev in enumerate(recordings):
        expected = _tet_resize(bin_events(ev, (128, 128, 2), 10, binning))
        assert torch.equal(split.frames.get(np.array([i]))[0], expected)


# ---- 1.5: N-MNIST saccade stabilisation (stabilize.m) ---------------------------------------------
def test_stabilize_removes_the_three_saccades_as_stabilize_m_does():
    import numpy as np

    from snnbench.datasets.nmnist import stabilize_saccades
    from snnbench.events import EVENT_DTYPE as dtype

    # a still "digit" (points at 8..25) seen by a moving sensor: saccade 1 moves (+3.5, +7), 2 (+3.5, -7), 3 (-7, 0)
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(0, 315_000, 4000))
    ph = t / 105_000
    dx = np.where(ph <= 1, 3.5 * ph, np.where(ph <= 2, 3.5 + 3.5 * (ph - 1), 7 - 7 * (ph - 2)))
    dy = np.where(ph <= 1, 7 * ph, np.where(ph <= 2, 7 - 7 * (ph - 1), 0.0))
    still_x, still_y = rng.integers(8, 26, 4000), rng.integers(8, 26, 4000)
    events = np.zeros(4000, dtype=dtype)
    events["t"], events["p"] = t, rng.integers(0, 2, 4000)
    events["x"], events["y"] = np.round(still_x + dx), np.round(still_y + dy)  # what the sensor records
    assert np.abs(events["x"] - still_x).max() >= 6 and np.abs(events["y"] - still_y).max() >= 6  # it drifts
    stable = stabilize_saccades(events)
    assert len(stable) == 4000  # nothing left the sensor
    assert np.abs(stable["x"] - still_x).max() <= 1 and np.abs(stable["y"] - still_y).max() <= 1
    # stabilize.m by hand on 1-based pixels (x1 = x + 1), MATLAB's round is half away from zero:
    # (10, 10) at 52.5 ms: round(11 - 1.75) = 9, round(11 - 3.5) = 8 → 0-based (8, 7)
    # (0, 5) at 105 ms: round(1 - 3.5) < 1 → dropped; (9, 0) at 210 ms: round(10 - 7) = 3, round(1 - 0) = 1 → (2, 0)
    hand = np.zeros(3, dtype=dtype)
    hand["x"], hand["y"], hand["t"] = [10, 0, 9], [10, 5, 0], [52_500, 105_000, 210_000]
    out = stabilize_saccades(hand)
    assert out["x"].tolist() == [8, 2] and out["y"].tolist() == [7, 0] and out["t"].tolist() == [52_500, 210_000]


def test_stabilisation_is_on_for_tsslbp_nmnist_keyed_in_the_cache_and_refused_elsewhere(tmp_path, make_recording):
    import dataclasses

    import numpy as np

    from snnbench.config import ConfigError
    from snnbench.datasets.nmnist import NMNISTBase
    from snnbench.files import DataContext

    recordings = [make_recording(np.random.default_rng(i), 300, 34, duration_us=300_000) for i in range(4)]

    class Saccades(NMNISTBase):
        name = "saccades"

        def read_events(self, split, paths):
            return recordings, np.arange(4)

    ctx, raw = DataContext(tmp_path), dataclasses.replace(
        resolve_config(create_method("tsslbp"), create_dataset("nmnist")), event_stabilize=False).binning()
    plain = Saccades().load("train", ctx, 30, raw)
    stable = Saccades().load("train", ctx, 30, dataclasses.replace(raw, stabilize=True))
    assert len(list((tmp_path / "frames").glob("*.npy"))) == 2  # one cache per setting
    assert not torch.equal(plain.frames.get(np.arange(4)), stable.frames.get(np.arange(4)))
    for dataset in ("nmnist", "nmnist-1k"):
        cfg = resolve_config(create_method("tsslbp"), create_dataset(dataset))
        assert cfg.event_stabilize and cfg.binning().stabilize
    assert not resolve_config(create_method("slayer"), create_dataset("nmnist-1k")).event_stabilize
    with pytest.raises(ConfigError, match="not recorded with saccades"):
        resolve_config(create_method("tet"), create_dataset("cifar10-dvs"), sets={"event_stabilize": True})


# ---- 1.6: TSSL-BP normalises Fashion-MNIST with MNIST's statistics -------------------------------
def test_tsslbp_fashion_mnist_uses_mnist_statistics(ctx):
    import numpy as np

    from snnbench.data import prepare_data

    fashion = create_dataset("fashion-mnist")
    for recipe in ("", "cnn"):
        cfg = resolve_config(create_method("tsslbp"), fashion, {"recipe": recipe or None, "max_train_samples": 64,
                                                                 "max_test_samples": 64})
        assert cfg.normalize == "mnist"
    bundle = prepare_data(cfg, fashion, ctx, torch.device("cpu"))
    assert bundle.info["encoding"]["mean"] == [0.1307] and bundle.info["encoding"]["std"] == [0.3081]
    x, _ = next(iter(bundle.test))
    images = fashion.load("test", ctx).images[bundle.test.indices[: x.shape[1]]].float() / 255
    assert torch.allclose(x[0], (images - 0.1307) / 0.3081)
    own = resolve_config(create_method("tsslbp"), fashion, sets={"normalize": "dataset"})
    assert prepare_data(own, fashion, ctx, torch.device("cpu")).info["encoding"]["mean"] == [0.2860]
    assert resolve_config(create_method("stbp"), fashion).normalize == "dataset"
    assert np.isfinite(x.numpy()).all()


# ---- §3 on the leaderboard: counts of another convention are not shown; fields a record predates ----
def test_leaderboard_shows_only_current_convention_counts_and_merges_predating_records(short_run):
    import copy

    from snnbench.leaderboard import build_rows, record_values
    from snnbench.records import Record

    record = short_run("stbp", "digits", epochs=1)
    assert record["metrics"]["convention"] == 2 and record_values(Record.from_dict(record))["ops"] is not None
    old = copy.deepcopy(record)
    old["metrics"].pop("convention")  # counted before zero weights were skipped and psp order was fixed
    assert record_values(Record.from_dict(old))["ops"] is None
    for key in ("normalize", "event_resize", "event_stabilize"):  # a record made before these fields existed
        old["config"].pop(key)
    old["config"]["options"].pop("fc_lr_scale")  # and before this option
    old["seed"] = old["config"]["seed"] = 1
    rows = build_rows([("new.json", Record.from_dict(record)), ("old.json", Record.from_dict(old))], published=[])
    assert len(rows) == 1 and sorted(rows[0].seeds) == [0, 1]

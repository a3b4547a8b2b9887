"""The graphed training step (issue 19): ``--cuda-graph``, capturable optimisers, and equality with the eager
step. The orchestration (static buffers, warm-up, recapture when the learning rate changes, the partial
last batch, the evaluation forward) runs everywhere through :class:`EmulatedGraph`; real CUDA graphs are
checked where there is a GPU."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from snnbench.config import ConfigError, resolve_config
from snnbench.engine import RuntimeOptions, fit, graphed_steps, report, setup, train_step
from snnbench.engine import _Silent as Silent
from snnbench.graphs import CapturedStep, EmulatedGraph, GraphPlan, graph_plan, training_graph
from snnbench.optim import SlayerNadam, make_optimizer, set_capturable
from snnbench.records import upgrade_record, validate_record
from snnbench.registry import create_dataset, create_method

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CUDA graphs)")


def mnist_cfg(method: str = "stbp", **sets):
    """A small MNIST run: 540 training samples in batches of 64 (a partial last batch), 60 for validation,
    600 test samples (full batches for the evaluation graph), a 64-neuron hidden layer, two epochs."""
    sets = {"steps": 4, "max_train_samples": 600, "max_test_samples": 600, "lr_schedule": "cosine", **sets}
    return resolve_config(create_method(method), create_dataset("mnist"),
                          {"epochs": 2, "arch": "64", "batch_size": 64}, sets)


def runtime(tmp_path: Path, ctx, out: str, device: str = "cpu", **kw) -> RuntimeOptions:
    return RuntimeOptions(device=device, data_dir=str(ctx.cache_dir), mirror=str(ctx.mirrors[0]), download=False,
                          out=tmp_path / out, **kw)


def fit_and_report(run):
    monitors, counters = fit(run, Silent())
    return report(run, monitors, counters)[0]


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("method", ["stbp", "tet", "tsslbp"])
def test_emulated_graph_run_equals_the_eager_run(tmp_path, ctx, method):
    """Two epochs (the cosine schedule changes the learning rate: a recapture), 540 training samples in
    batches of 64 (a partial last batch, eager), validation and test each epoch: the graphed run's
    weights and curves are the eager run's, bit for bit."""
    sets = {"steps": 5} if method == "tsslbp" else {}
    eager = setup(mnist_cfg(method, **sets), runtime(tmp_path, ctx, "eager"))
    graphed = setup(mnist_cfg(method, **sets), runtime(tmp_path, ctx, "graphed"))
    graphed.train_graph, graphed.eval_graph = graphed_steps(graphed, graph=EmulatedGraph)
    a, b = fit_and_report(eager), fit_and_report(graphed)
    assert_same_weights(eager.model, graphed.model)
    assert [row["train_loss"] for row in a["curves"]] == [row["train_loss"] for row in b["curves"]]
    assert [(row["val_acc"], row["test_acc"]) for row in a["curves"]] == \
        [(row["val_acc"], row["test_acc"]) for row in b["curves"]]
    train_graph = graphed.train_graph
    assert train_graph.captures == 2, "one capture per learning rate (the cosine schedule's two epochs)"
    assert train_graph.graph.replays > 0 and graphed.eval_graph.graph is not None
    assert b["execution"]["cuda_graph"] == "on" and a["execution"]["cuda_graph"] == "off: not a CUDA device"
    assert validate_record(b) == []
    from rich.console import Console

    from snnbench.ui import run_summary

    console = Console(width=120, record=True)
    console.print(run_summary(a))
    assert "off: not a CUDA device" in console.export_text()  # the summary says how the steps ran


def test_captured_step_copies_each_batch_into_its_static_inputs():
    """A replay computes on the batch just given (not the captured one); other shapes run eagerly."""
    step = CapturedStep(lambda x: (x * 2,), torch.device("cpu"), graph=EmulatedGraph, warmup=1)
    outputs = [step(torch.full((3,), float(i)))[0].clone() for i in range(4)]
    assert [float(o[0]) for o in outputs] == [0.0, 2.0, 4.0, 6.0]
    assert step.status == "on" and step.graph.replays == 2  # batch 0 warm-up, 1 capture, 2 and 3 replays
    assert float(step(torch.ones(2))[0][0]) == 2.0 and step.graph.replays == 2  # another shape: eager


def test_a_stale_key_is_caught_by_the_emulated_graph():
    """The emulation refuses what a real graph would get wrong: replaying after a baked constant changed."""
    graph = EmulatedGraph(torch.device("cpu"))
    graph.capture(lambda: (torch.zeros(1),), (0.1,))
    graph.replay((0.1,))
    with pytest.raises(AssertionError, match="captured under"):
        graph.replay((0.2,))


def test_a_step_that_cannot_be_captured_runs_eagerly_and_says_why():
    class Failing(EmulatedGraph):
        def capture(self, fn, key):
            raise RuntimeError("operation not permitted when stream is capturing")

    calls = []
    step = CapturedStep(lambda x: (calls.append(1) or x + 1,), torch.device("cpu"), graph=Failing, warmup=1)
    step(torch.zeros(2))
    with pytest.warns(RuntimeWarning, match="could not be captured"):
        assert float(step(torch.zeros(2))[0][0]) == 1.0
    assert float(step(torch.zeros(2))[0][0]) == 1.0 and len(calls) == 3
    assert step.status.startswith("off: the step could not be captured (RuntimeError: operation not permitted")


def test_graph_modes_and_their_errors():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    stbp, strsbp = create_method("stbp"), create_method("st-rsbp")
    assert graph_plan("auto", cpu, stbp) == GraphPlan(False, "off: not a CUDA device")
    assert graph_plan("auto", gpu, stbp) == GraphPlan(True, "on")
    assert graph_plan("on", gpu, stbp) == GraphPlan(True, "on")
    assert graph_plan("auto", gpu, stbp, distributed=True) == GraphPlan(False, "off: distributed (torchrun)")
    assert graph_plan("off", gpu, stbp) == GraphPlan(False, "off: --cuda-graph off")
    auto = graph_plan("auto", gpu, strsbp)
    assert not auto.graphed and "host" in auto.reason and auto.error == ""  # auto never errs
    assert graph_plan("auto", cpu, strsbp).error == ""
    assert "needs a CUDA device, this run is on cpu" in graph_plan("on", cpu, stbp).error
    assert "not available under torchrun" in graph_plan("on", gpu, stbp, distributed=True).error
    assert "st-rsbp's step cannot be captured" in graph_plan("on", gpu, strsbp).error
    assert "valid values: auto, on, off" in graph_plan("sometimes", gpu, stbp).error
    assert graph_plan("auto", gpu).graphed and graph_plan("on", cpu).error  # the bench: no method asked


def test_cuda_graph_on_without_a_gpu_is_refused_before_data_loads(tmp_path):
    cfg = resolve_config(create_method("stbp"), create_dataset("mnist"), {"epochs": 1}, {})
    with pytest.raises(ConfigError, match="--cuda-graph on needs a CUDA device"):
        setup(cfg, RuntimeOptions(device="cpu", data_dir=str(tmp_path / "nothing-here"), mirror=str(tmp_path),
                                  download=False, out=tmp_path / "runs", cuda_graph="on"))


def test_cli_flag_reaches_the_run(tmp_path):
    from snnbench.cli import main

    code = main(["run", "--method", "stbp", "--dataset", "digits", "--epochs", "1", "--device", "cpu",
                 "--cuda-graph", "on", "--out", str(tmp_path), "--data-dir", str(tmp_path / "cache")])
    assert code == 2


def test_schema_6_upgrade_marks_older_records_eager():
    old = {"schema_version": 5, "execution": {"backends": [], "param_groups": [], "shared_device": False,
                                              "method": {}}}
    assert upgrade_record(old)["execution"]["cuda_graph"] == "off: before schema 6"


def _sgd_like_params(seed: int = 0) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    return [torch.randn(5, 3, requires_grad=True), torch.randn(3, requires_grad=True)]


def test_capturable_slayer_nadam_equals_the_host_form():
    """The device-side bias correction (no host read) follows the host form to float32 rounding."""
    host, device = _sgd_like_params(), _sgd_like_params()
    opt_h = SlayerNadam(host, lr=0.01, weight_decay=1e-3)
    opt_d = SlayerNadam(device, lr=0.01, weight_decay=1e-3, capturable=True)
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        for a, b in zip(host, device, strict=True):
            g = torch.randn(a.shape, generator=gen)
            a.grad, b.grad = g.clone(), g.clone()
        opt_h.step()
        opt_d.step()
    for a, b in zip(host, device, strict=True):
        torch.testing.assert_close(a, b, rtol=2e-6, atol=2e-7)
    assert opt_d.state[device[0]]["step"].device == device[0].device


def test_capturable_slayer_nadam_reads_nothing_on_the_host():
    """On the meta device any host read (float(), .item()) of a device value raises: the capturable step
    has none, and keeps its count on the parameters' device (the host form keeps it on the CPU, where a
    CUDA graph would run it once, at capture, and never again)."""
    for capturable, where in ((True, "meta"), (False, "cpu")):
        p = torch.zeros(4, device="meta", requires_grad=True)
        p.grad = torch.zeros(4, device="meta")
        opt = SlayerNadam([p], capturable=capturable)
        opt.step()
        assert opt.state[p]["step"].device.type == where


@pytest.mark.parametrize("method,dataset,shape", [("stbp", "mnist", (1, 28, 28)), ("tet", "mnist", (1, 28, 28)),
                                                  ("tsslbp", "mnist", (1, 28, 28))])
def test_training_steps_read_nothing_on_the_host(method, dataset, shape):
    """A rule that declares its step capturable runs a whole training step (forward, loss, backward, clip,
    optimiser, after-step hook; PyTorch kernels) on the meta device, where any host read of a device value
    raises, as it would break a CUDA graph capture. (SLAYER's PyTorch reference of the exact reset reads
    spike indices on the host; its Triton kernel, the one a GPU runs, does not.)"""
    rule = create_method(method)
    assert rule.graph_capture
    cfg = resolve_config(rule, create_dataset(dataset), {"batch_size": 4}, {"optimizer": "slayer-nadam",
                                                                            "grad_clip": 1.0})
    with torch.device("meta"):
        from snnbench.arch import parse_arch

        model = rule.build(parse_arch(cfg.arch), shape, 10, cfg)
    from snnbench.kernels import bind_backends

    bind_backends(model, torch.device("cpu"))
    optimizer = make_optimizer(rule.param_groups(model, cfg), cfg, capturable=True)
    inputs = torch.zeros((cfg.steps, 4, *shape), device="meta")
    labels = torch.zeros(4, dtype=torch.long, device="meta")
    loss, output = train_step(model, rule, optimizer, inputs, labels, cfg, torch.device("cpu"))
    assert loss.device.type == "meta" and output.shape[1] == 4


def test_st_rsbp_step_reads_the_host_as_declared():
    """The one rule declared not capturable does read a device value on the host (its sparse recurrent
    weights' row width): the declaration is true."""
    rule = create_method("st-rsbp")
    assert not rule.graph_capture
    cfg = resolve_config(rule, create_dataset("mnist"), {"batch_size": 2}, {"steps": 8})
    from snnbench.arch import parse_arch

    with torch.device("meta"):
        model = rule.build(parse_arch(cfg.arch), (1, 28, 28), 10, cfg)
    with pytest.raises(RuntimeError, match="meta"):
        model(torch.zeros((8, 2, 1, 28, 28), device="meta"))


def test_set_capturable_moves_step_counts_where_the_flag_wants_them():
    params = _sgd_like_params()
    cfg = mnist_cfg()
    opt = make_optimizer([{"name": "all", "params": params}], cfg)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    set_capturable(opt, False)
    assert all(g["capturable"] is False for g in opt.param_groups)
    assert opt.state[params[0]]["step"].device.type == "cpu"


# ---- on a GPU: real CUDA graphs ----------------------------------------------------------------------
@cuda
@pytest.mark.parametrize("method", ["stbp", "tet", "tsslbp", "slayer"])
def test_cuda_graph_step_equals_the_eager_step(method):
    """The same model, optimiser state and batches: replayed steps give the eager steps' weights exactly."""
    from snnbench.arch import parse_arch
    from snnbench.kernels import bind_backends

    device = torch.device("cuda")
    dataset = "nmnist" if method == "slayer" else "mnist"
    shape = (2, 34, 34) if method == "slayer" else (1, 28, 28)
    rule = create_method(method)
    cfg = resolve_config(rule, create_dataset(dataset), {"batch_size": 8}, {"grad_clip": 1.0})
    torch.manual_seed(0)
    model = rule.build(parse_arch(cfg.arch), shape, 10, cfg).to(device)
    bind_backends(model, device)
    twin = copy.deepcopy(model)
    opt = make_optimizer(rule.param_groups(model, cfg), cfg, capturable=True)
    opt_twin = make_optimizer(rule.param_groups(twin, cfg), cfg, capturable=True)

    def step(x, y):
        loss, out = train_step(model, rule, opt, x, y, cfg, device, autocast_cache=False)
        return loss.detach(), out.detach()

    graphed = training_graph(step, device, opt)
    gen = torch.Generator(device=device).manual_seed(1)
    for _ in range(8):
        x = (torch.rand((cfg.steps, 8, *shape), generator=gen, device=device) < 0.2).float()
        y = torch.randint(0, 10, (8,), generator=gen, device=device)
        loss, _ = graphed(x, y)
        loss_twin, _ = train_step(twin, rule, opt_twin, x, y, cfg, device)
        assert torch.equal(loss, loss_twin.detach())
    assert graphed.status == "on"
    assert_same_weights(model, twin)


@cuda
def test_cuda_graph_run_equals_the_eager_run(tmp_path, ctx):
    """A whole run on the GPU, --cuda-graph on against off: the same weights and curves."""
    a = setup(mnist_cfg(), runtime(tmp_path, ctx, "eager", device="cuda", cuda_graph="off"))
    b = setup(mnist_cfg(), runtime(tmp_path, ctx, "graphed", device="cuda", cuda_graph="on"))
    ra, rb = fit_and_report(a), fit_and_report(b)
    assert_same_weights(a.model, b.model)
    assert [row["test_acc"] for row in ra["curves"]] == [row["test_acc"] for row in rb["curves"]]
    assert rb["execution"]["cuda_graph"] == "on" and ra["execution"]["cuda_graph"] == "off: --cuda-graph off"

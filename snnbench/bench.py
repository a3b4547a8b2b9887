"""``snnbench bench``: training-step time and peak memory, side by side, on the paper networks.

Measured as the published peer timings are measured: a full training step (forward, loss, backward,
gradient clip, optimiser step, the method's after-step hook: :func:`snnbench.engine.train_step`),
synthetic inputs of the right shape, ``warmup`` steps first, then the median of ``repeats`` steps,
each timed with CUDA events (perf_counter on the CPU). Peak memory is
``torch.cuda.max_memory_allocated`` after a reset, with the model and optimiser state included.

Peers, when installed: spikingjelly (multi-step ``LIFNode``, its fused kernels) and snntorch
(``Leaky`` in a Python loop over T), both surrogate-gradient LIF networks of the same topology
(the same conv / pool / linear sizes, average pooling, cross-entropy on the mean output over T).
``ann`` is the floor any rule on that topology pays: the same network with ReLU instead of spiking
neurons and T folded into the batch (one pass over T·B samples), needing nothing but torch.

On a GPU every step that can be captured (snnbench's rules but ST-RSBP, and the ANN floor) is timed a
second time replayed from a CUDA graph (:mod:`snnbench.graphs`), on a fresh model: the ``graphed`` column,
what ``snnbench run`` pays per step (``--cuda-graph auto``). Launch-bound small networks gain most.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import logging
import math
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from snnbench.arch import LayerPlan, parse_arch
from snnbench.config import ENCODINGS, ConfigError, resolve_config
from snnbench.files import DataContext
from snnbench.graphs import WARMUP_STEPS, CapturedStep, CudaGraph, GraphFactory, graph_plan, training_graph
from snnbench.optim import make_optimizer
from snnbench.registry import build_model, create_dataset, create_method

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchCase:
    """One network of the comparison: the dataset whose recipe a method uses, topology, batch, T."""

    name: str
    dataset: str
    arch: str
    batch: int
    steps: int
    input_shape: tuple[int, int, int]
    events: bool = False
    classes: int = 10
    spike_input: bool = False  # rate-coded images (binary, ~9 % density) instead of analogue frames
    flush_denormal: bool = False  # the suite cell's setting (a config field: denormals flushed on the CPU)
    # the fraction of input bins holding a spike (events, spike inputs); 0: 5 % for events, 9 % for spike inputs.
    # A suite case measures it on the cell's own data where that is here (the event-driven products cost in
    # proportion to it: N-MNIST-1k's 1 ms bins hold 0.6 %)
    density: float = 0.0
    options: tuple[tuple[str, Any], ...] = ()  # a suite cell's ``set`` (e.g. SLAYER's event_input), as --set pairs


CASES: dict[str, BenchCase] = {c.name: c for c in (
    BenchCase("mnist", "mnist", "15C5-P2-40C5-P2-300", 50, 5, (1, 28, 28)),
    BenchCase("fmnist-mlp", "fashion-mnist", "400-400", 100, 5, (1, 28, 28)),
    BenchCase("nmnist-t30", "nmnist", "12C5p1-P2-64C5-P2", 50, 30, (2, 34, 34), events=True),
    BenchCase("nmnist-t100", "nmnist", "12C5p1-P2-64C5-P2", 50, 100, (2, 34, 34), events=True),
    BenchCase("nmnist-t300", "nmnist", "12C5p1-P2-64C5-P2", 50, 300, (2, 34, 34), events=True),
    BenchCase("cifar10-cnn1", "cifar10", "cnn1", 50, 5, (3, 32, 32)),
    BenchCase("nmnist-slayer", "nmnist", "12C5-P2-64C5-P2", 12, 300, (2, 34, 34), events=True),
    # ST-RSBP's MNIST network (Config/MNIST.txt, T = 400) and a feed-forward network every rule can build
    BenchCase("mnist-strsbp", "mnist", "400-rec400(5x5x16)", 16, 400, (1, 28, 28), spike_input=True),
    BenchCase("mnist-fc-t400", "mnist", "400-400", 16, 400, (1, 28, 28), spike_input=True),
    # ST-RSBP's spiking CNN (Config/SpikingCNNMnistConfig.txt) at its T; `--set st-rsbp.recipe=cnn` for its ν
    BenchCase("mnist-cnn-t400", "mnist", "15C5-P2-40C5-P2-300", 16, 400, (1, 28, 28), spike_input=True),
    # the CPU track's networks (suites/cpu.toml): Yin-Yang 4-120-3 at the fast rules' T = 8 and, online at
    # T = 100, as ST-RSBP and HM2-BP run it; Randman 100-128-10 at T = 100
    BenchCase("yin-yang", "yin-yang", "120", 20, 8, (4, 1, 1), classes=3),
    BenchCase("yin-yang-t100", "yin-yang", "120", 1, 100, (4, 1, 1), classes=3, spike_input=True),
    BenchCase("randman", "randman-10c-3d", "128", 32, 100, (100, 1, 1), spike_input=True),
)}
PEERS = ("spikingjelly", "spikingjelly-bn", "snntorch", "ann")
SPIKE_ENCODINGS = tuple(e for e in ENCODINGS if e != "direct")  # static data presented as spikes


def suite_cases(suite: str) -> list[tuple[BenchCase, str]]:
    """Each distinct (rule, dataset) of a declared suite as its cells train: the rule's recipe network,
    batch and T on that dataset's input (a case named ``<dataset>/<rule>``), paired with the rule. What
    ``snnbench bench --suite cpu`` times: the CPU track's own networks, one per rule."""
    from snnbench.data import input_shape_of
    from snnbench.suite import load_suite

    pairs: dict[tuple[str, str], tuple[BenchCase, str]] = {}
    densities: dict[tuple, float] = {}
    for cell in load_suite(suite).cells:
        cfg = cell.config
        if (cfg.method, cfg.dataset) in pairs:
            continue
        dataset = create_dataset(cfg.dataset)
        case = BenchCase(f"{cfg.dataset}/{cfg.method}", cfg.dataset, cfg.arch, cfg.batch_size, cfg.steps,
                         tuple(input_shape_of(cfg, dataset)), events=dataset.kind == "events",
                         classes=dataset.num_classes, spike_input=cfg.encoding in SPIKE_ENCODINGS,
                         flush_denormal=cfg.flush_denormal, options=cell.sets)
        if case.events or case.spike_input:
            key = (cfg.dataset, cfg.encoding, cfg.steps, cfg.binning() if case.events else None)
            if key not in densities:
                densities[key] = input_density(cfg, dataset)
            case = dataclasses.replace(case, density=densities[key])
        pairs[(cfg.method, cfg.dataset)] = (case, cfg.method)
    return list(pairs.values())


def input_density(cfg: Any, dataset: Any, batches: int = 8) -> float:
    """The fraction of nonzero input bins in the first ``batches`` training batches of a cell's data, encoded
    as the run encodes it, where the data is here (``SNNBENCH_DATA``, ``SNNBENCH_MIRROR``); 0 (the synthetic
    default) where it is not, with a log line saying so."""
    from snnbench.data import prepare_data
    from snnbench.files import DataFileError

    try:  # never a download: a bench measures, it does not fetch
        data = prepare_data(cfg, dataset, DataContext.from_options(download=False), torch.device("cpu"))
    except (DataFileError, OSError, ValueError) as err:
        log.info("bench: %s's data is not here (%s); its case uses the synthetic input density", cfg.dataset, err)
        return 0.0
    nonzero = total = 0
    for index, (x, _) in enumerate(data.train):
        if index == batches:
            break
        nonzero, total = nonzero + int(x.ne(0).sum()), total + x.numel()
    return nonzero / max(1, total)


@dataclass
class BenchResult:
    case: str
    impl: str  # "snnbench:<method>" or a peer library
    steps: int
    batch: int
    ms_per_step: float | None
    peak_mib: float | None
    device: str
    note: str = ""
    graphed_ms: float | None = None  # the same step replayed from a CUDA graph (None: not measured)
    graphed_peak_mib: float | None = None
    gflop: float | None = None  # the step's floating-point work (torch's FLOP counter: matmuls, convolutions)
    roofline: float | None = None  # its FLOP rate over this machine's measured float32 GEMM rate
    cpu_peak_mib: float | None = None  # peak resident memory of the process over the step's build and timing
    threads: int = 0  # torch intra-op threads during the timing


@dataclass
class BenchStep:
    """One implementation's training step on a fixed batch: ``fn(inputs, labels) -> (loss, output)``,
    its model and optimiser. Calling it runs one eager step; :meth:`graphed` gives the replayed one."""

    fn: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]]
    batch: tuple[torch.Tensor, torch.Tensor]
    model: nn.Module
    optimizer: torch.optim.Optimizer
    graph_capture: bool = True  # whether the step can be replayed from a CUDA graph at all

    def __call__(self) -> tuple[torch.Tensor, ...]:
        return self.fn(*self.batch)

    def graphed(self, device: torch.device, graph: GraphFactory = CudaGraph
                ) -> tuple[Callable[[], Any], CapturedStep]:
        """The step replayed from a graph (its first :data:`~snnbench.graphs.WARMUP_STEPS` calls eager, the
        next one captures), and the :class:`~snnbench.graphs.CapturedStep` (whose ``status`` says whether
        it was)."""
        captured = training_graph(self.fn, device, self.optimizer, graph=graph)
        return (lambda: captured(*self.batch)), captured


def synthetic_batch(case: BenchCase, steps: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``[T, B, C, H, W]`` (binary at the case's density for events and spike inputs; normalised-like
    otherwise) and labels."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    shape = (steps, case.batch, *case.input_shape)
    if case.events or case.spike_input:
        x = (torch.rand(shape, generator=gen) < (case.density or (0.05 if case.events else 0.09))).float()
    else:
        x = torch.randn(case.input_shape, generator=gen).expand(steps, case.batch, *case.input_shape).contiguous()
    labels = torch.randint(0, case.classes, (case.batch,), generator=gen)
    return x.to(device), labels.to(device)


def time_steps(step: Callable[[], Any], device: torch.device, warmup: int, repeats: int, clock: str = "wall"
               ) -> float:
    """Median milliseconds of ``step()`` over ``repeats`` calls after ``warmup`` calls: by the wall clock (the
    engine's :class:`~snnbench.engine.StepTimer`), or with ``clock="cpu"`` in this process's CPU time."""
    from snnbench.engine import StepTimer

    for _ in range(warmup):
        step()
    if clock == "cpu":
        spent = []
        for _ in range(repeats):
            start = time.process_time()
            step()
            spent.append((time.process_time() - start) * 1000)
        return statistics.median(spent)
    timer = StepTimer(device)
    for _ in range(repeats):
        timer.start()
        step()
        timer.stop()
    return statistics.median(timer.collect())


def method_step(name: str, case: BenchCase, steps: int, device: torch.device,
                options: dict[str, Any] | None = None, graphed: bool = False) -> BenchStep:
    """A training step of snnbench method ``name`` with its recipe for the case's dataset family, as the
    engine runs it (its optimiser capturable on a GPU, graphed or not); a suite case's own settings, then
    ``options``, on top."""
    from snnbench.engine import train_step

    method, dataset = create_method(name), create_dataset(case.dataset)
    flags = {"arch": case.arch, "steps": steps, "batch_size": case.batch, "flush_denormal": case.flush_denormal}
    cfg = resolve_config(method, dataset, flags, {**dict(case.options), **(options or {})})
    model, _, _ = build_model(method, cfg, case.input_shape, case.classes, device,
                              DataContext.from_options().cache_dir)  # prepare: e.g. ST-RSBP's effect table
    optimizer = make_optimizer(method.param_groups(model, cfg), cfg, capturable=device.type == "cuda")
    model.train()

    def fn(inputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, output = train_step(model, method, optimizer, inputs, labels, cfg, device, autocast_cache=not graphed)
        return loss.detach(), output.detach()

    return BenchStep(fn, synthetic_batch(case, steps, device), model, optimizer, method.graph_capture)


def _peer_layers(plan: LayerPlan, case: BenchCase, conv: Callable, linear: Callable, pool: Callable,
                 flatten: Callable, neuron: Callable, norm: Callable | None = None) -> list[nn.Module]:
    walk = plan.walk(case.input_shape, case.classes)  # the rules' own walk (LayerPlan.walk)
    layers: list[nn.Module] = []
    for step in walk.steps:
        spec = step.spec
        if step.flatten_before:
            layers.append(flatten())
        if spec.kind == "conv":
            layers.append(conv(step.in_shape[0], spec.channels, spec.kernel, spec.stride, spec.padding))
            layers += [norm(spec.channels), neuron()] if norm is not None else [neuron()]
        elif spec.kind == "pool":
            layers.append(pool(spec.kernel))
        elif spec.kind == "linear":
            layers += [linear(math.prod(step.in_shape), spec.channels), neuron()]
        elif spec.kind != "dropout":
            raise ConfigError(f"bench peers do not build {spec.kind!r} layers")
    if walk.flatten_head:
        layers.append(flatten())
    layers.append(linear(walk.head_features, walk.outputs))
    return layers


def _peer_step(model: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor], case: BenchCase, steps: int,
               device: torch.device, graphed: bool, after: Callable[[], Any] | None = None,
               graph_capture: bool = False) -> BenchStep:
    """A peer's step: Adam (lr 1e-3) on the cross-entropy of the mean output over T, then ``after()``
    (e.g. spikingjelly's state reset); the optimiser is capturable only for a graphed step on a GPU."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=graphed and device.type == "cuda")

    def fn(inputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = forward(inputs)
        loss = F.cross_entropy(output.mean(0), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if after is not None:
            after()
        return loss.detach(), output.detach()

    return BenchStep(fn, synthetic_batch(case, steps, device), model, optimizer, graph_capture)


def spikingjelly_step(case: BenchCase, steps: int, device: torch.device, graphed: bool = False,
                      batch_norm: bool = False) -> BenchStep:
    """spikingjelly multi-step LIF network (ATan surrogate, its fused multi-step kernel); with
    ``batch_norm`` every conv is followed by BN over batch and time (TET's conv → BN → LIF topology)."""
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    model = nn.Sequential(*_peer_layers(
        parse_arch(case.arch), case,
        conv=lambda i, o, k, s, p: layer.Conv2d(i, o, k, s, p, step_mode="m"),
        linear=lambda i, o: layer.Linear(i, o, step_mode="m"),
        pool=lambda k: layer.AvgPool2d(k, ceil_mode=True, step_mode="m"),
        flatten=lambda: layer.Flatten(step_mode="m"),
        neuron=lambda: neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), step_mode="m"),
        norm=(lambda c: layer.BatchNorm2d(c, step_mode="m")) if batch_norm else None)).to(device)
    return _peer_step(model, model, case, steps, device, graphed, after=lambda: functional.reset_net(model))


def snntorch_step(case: BenchCase, steps: int, device: torch.device, graphed: bool = False) -> BenchStep:
    """snntorch ``Leaky`` network (ATan surrogate), stepped in a Python loop over T as its tutorials do."""
    import snntorch as snn
    from snntorch import surrogate

    layers = _peer_layers(
        parse_arch(case.arch), case, conv=nn.Conv2d, linear=nn.Linear,
        pool=lambda k: nn.AvgPool2d(k, ceil_mode=True), flatten=nn.Flatten,
        neuron=lambda: snn.Leaky(beta=0.5, spike_grad=surrogate.atan()))
    model = nn.ModuleList(layers).to(device)

    def forward(x: torch.Tensor) -> torch.Tensor:
        mems = [m.init_leaky() if isinstance(m, snn.Leaky) else None for m in model]
        outputs = []
        for t in range(x.shape[0]):
            h = x[t]
            for i, m in enumerate(model):
                if isinstance(m, snn.Leaky):
                    h, mems[i] = m(h, mems[i])
                else:
                    h = m(h)
            outputs.append(h)
        return torch.stack(outputs)

    return _peer_step(model, forward, case, steps, device, graphed)


def ann_step(case: BenchCase, steps: int, device: torch.device, graphed: bool = False) -> BenchStep:
    """The ANN floor: the case's topology with ReLU, T folded into the batch (``[T·B, C, H, W]``), Adam,
    cross-entropy on the mean output over T; the cost of the synapses alone (graphed too: its launch floor)."""
    model = nn.Sequential(*_peer_layers(
        parse_arch(case.arch), case, conv=nn.Conv2d, linear=nn.Linear, pool=lambda k: nn.AvgPool2d(k, ceil_mode=True),
        flatten=nn.Flatten, neuron=nn.ReLU)).to(device)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return model(x.reshape(steps * case.batch, *case.input_shape)).view(steps, case.batch, -1)

    return _peer_step(model, forward, case, steps, device, graphed, graph_capture=True)


PEER_MODULES = {"spikingjelly": "spikingjelly", "spikingjelly-bn": "spikingjelly", "snntorch": "snntorch",
                "ann": "torch"}


def available_peers() -> list[str]:
    return [p for p in PEERS if importlib.util.find_spec(PEER_MODULES[p]) is not None]


def profile_step(step: Callable[[], Any], device: torch.device, rows: int = 12) -> str:
    """The top ``rows`` kernels (by device time) of one ``step()`` after a warm-up, as torch.profiler's table."""
    from torch.profiler import ProfilerActivity, profile

    step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


Builder = Callable[[bool], BenchStep]  # graphed -> a fresh step (its own model and optimiser)


def run_bench(cases: list[str], methods: list[str], peers: list[str], device: torch.device, warmup: int = 3,
              repeats: int = 10, steps_override: list[int] | None = None,
              options: dict[str, dict[str, Any]] | None = None,
              report: Callable[[BenchResult], None] | None = None, graphed: bool | None = None,
              graph: GraphFactory = CudaGraph) -> list[BenchResult]:
    """Time every (case, implementation) pair; ``steps_override`` sweeps T instead of the case's T. With
    ``graphed`` (default: on a GPU) every step that can be captured (snnbench's rules but ST-RSBP, the ANN
    floor) is timed a second time, replayed from a graph, on a fresh model."""
    return run_plan(case_plan(cases, methods), peers, device, warmup, repeats, steps_override, options, report,
                    graphed, graph)


def case_plan(cases: list[str], methods: list[str]) -> list[tuple[BenchCase, list[str]]]:
    """The named cases, each with ``methods``; an unknown case is refused naming the valid ones."""
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise ConfigError(f"unknown bench case(s) {', '.join(unknown)}; valid cases: {', '.join(CASES)}")
    return [(CASES[name], methods) for name in cases]


def run_plan(plan: list[tuple[BenchCase, list[str]]], peers: list[str], device: torch.device, warmup: int = 3,
             repeats: int = 10, steps_override: list[int] | None = None,
             options: dict[str, dict[str, Any]] | None = None,
             report: Callable[[BenchResult], None] | None = None, graphed: bool | None = None,
             graph: GraphFactory = CudaGraph) -> list[BenchResult]:
    """Time each case's methods and the peers (see :func:`run_bench`); each row's roofline is its FLOP rate
    over this machine's float32 GEMM rate, measured once at the start of the run."""
    bad_peers = [p for p in peers if p not in PEERS]
    if bad_peers:
        raise ConfigError(f"unknown peer(s) {', '.join(bad_peers)}; valid peers: {', '.join(PEERS)}")
    graphed = graph_plan("auto", device).graphed if graphed is None else graphed
    peak_gflops = gemm_gflops(device)
    results = []
    for case, methods in plan:
        for steps in steps_override or [case.steps]:
            impls: list[tuple[str, Builder]] = [
                (f"snnbench:{m}", partial(method_step, m, case, steps, device, (options or {}).get(m)))
                for m in methods]
            impls += [(p, partial(PEER_BUILDERS[p], case, steps, device)) for p in peers]
            for impl, build in impls:
                result = _measure(impl, build, case, steps, device, warmup, repeats)
                if result.gflop and result.ms_per_step:
                    result.roofline = result.gflop / (result.ms_per_step / 1000) / peak_gflops
                if graphed and result.ms_per_step is not None:
                    _measure_graphed(result, build, device, warmup, repeats, graph)
                results.append(result)
                if report is not None:
                    report(result)
    return results


def gemm_gflops(device: torch.device, size: int = 1024, repeats: int = 5, clock: str = "wall") -> float:
    """This machine's float32 matrix-multiply rate (GFLOP/s) at the current thread count: the roofline's
    denominator, measured in the same run as the steps, and in a run record's environment how fast the machine
    ran as the run started (a shared host's speed drifts; CPU seconds do not see it). ``clock="cpu"`` (a CPU
    device) times it in this process's CPU seconds, the unit of a ``cpu_s`` budget: other processes on the
    machine slow the wall-clock rate, not this one, which moves only when a CPU second buys less. Constant
    operands: the run's random streams are untouched."""
    if clock not in ("wall", "cpu") or (clock == "cpu" and device.type != "cpu"):
        raise ValueError(f"clock must be 'wall' or, on a CPU device, 'cpu'; got {clock!r} on {device}")
    a = torch.full((size, size), 0.5, device=device)
    b = torch.full((size, size), 0.25, device=device)
    ms = time_steps(lambda: a @ b, device, 2, repeats, clock)
    return 2 * size**3 / (ms / 1000) / 1e9


def step_gflop(step: Callable[[], Any]) -> float | None:
    """The floating-point work of one ``step()`` in GFLOP (torch.utils.flop_counter: matmuls and convolutions,
    forward and backward; what a rule computes outside them, e.g. its neuron scans, is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            step()
    except Exception:  # noqa: BLE001 - a step the counter cannot trace gets no roofline, not a failed bench
        return None
    return counter.get_total_flops() / 1e9


def cpu_peak_mib(reset: bool = False) -> float | None:
    """The process's peak resident memory (VmHWM, Linux) in MiB; ``reset`` restarts the peak (clear_refs 5)."""
    try:
        if reset:
            Path("/proc/self/clear_refs").write_text("5")
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _fresh(device: torch.device) -> None:
    gc.collect()
    cpu_peak_mib(reset=True)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _measure(impl: str, build: Builder, case: BenchCase, steps: int, device: torch.device, warmup: int,
             repeats: int) -> BenchResult:
    _fresh(device)
    note = ""
    gflop = None
    try:
        step = build(False)
        ms: float | None = time_steps(step, device, warmup, repeats)
        gflop = step_gflop(step)
    except (ImportError, RuntimeError, ConfigError) as err:  # a peer that cannot run this case, or OOM
        ms, note = None, f"{type(err).__name__}: {err}"[:200]
    return BenchResult(case.name, impl, steps, case.batch, ms, _peak(device) if ms is not None else None,
                       str(device), note, gflop=gflop, cpu_peak_mib=cpu_peak_mib(), threads=torch.get_num_threads())


def _measure_graphed(result: BenchResult, build: Builder, device: torch.device, warmup: int, repeats: int,
                     graph: GraphFactory) -> None:
    """Fill ``result.graphed_ms`` (and its peak memory) from a fresh, graphed step; a step that cannot be
    captured (or whose capture fails) leaves it None and says why in the note."""
    _fresh(device)
    step = build(True)
    if not step.graph_capture:
        return
    call, captured = step.graphed(device, graph)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a failed capture is reported in the note instead
            ms = time_steps(call, device, warmup + WARMUP_STEPS + 1, repeats)
    except RuntimeError as err:  # e.g. out of memory with the graph's own pool
        result.note = "; ".join(filter(None, [result.note, f"graphed: {type(err).__name__}: {err}"[:200]]))
        return
    if captured.status == "on":
        result.graphed_ms, result.graphed_peak_mib = ms, _peak(device)
    else:
        result.note = "; ".join(filter(None, [result.note, f"graph {captured.status}"[:200]]))


PEER_BUILDERS: dict[str, Callable[..., BenchStep]] = {
    "spikingjelly": spikingjelly_step, "spikingjelly-bn": partial(spikingjelly_step, batch_norm=True),
    "snntorch": snntorch_step, "ann": ann_step}

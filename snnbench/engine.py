"""The one training loop every method runs through: ``train = setup → fit → report``.

- :func:`setup` checks the output folder and any checkpoint to resume, then loads the data, builds
  the method's network for its device (binding the neuron backends once) and its optimiser;
- :func:`fit` trains ``cfg.epochs`` epochs with validation and test evaluation after each and a
  checkpoint every epoch (``--resume`` continues from the last one with identical results);
- :func:`report` runs the measured test pass (firing statistics, synaptic operations) and writes
  the run record.
Checkpoints are :mod:`snnbench.checkpoints`, the record is built by :mod:`snnbench.records.build`, and
evaluation is :mod:`snnbench.evaluation`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from snnbench.arch import parse_arch
from snnbench.budget import Estimate, Meter, Spent, parse_budget
from snnbench.checkpoints import (
    checkpoint_path,
    init_from,
    load_weights,
    resume_blob,
    save_checkpoint,
    set_rng_state,
)
from snnbench.config import ConfigError, RunConfig
from snnbench.data import DataBundle, prepare_data
from snnbench.distributed import finish_distributed, init_distributed
from snnbench.evaluation import evaluate, measured_test
from snnbench.files import DataContext
from snnbench.graphs import CapturedStep, graph_plan, training_graph
from snnbench.metrics import model_metrics
from snnbench.optim import lr_at, make_optimizer, set_capturable, set_lr
from snnbench.records import DEFAULT_RUNS, environment, write_record
from snnbench.records.build import build_record, now
from snnbench.registry import build_model, create_dataset, create_method

DEVICES = ("auto", "cpu", "cuda")
log = logging.getLogger(__name__)
EpochCallback = Callable[[int, dict[str, Any]], None]


class Progress(Protocol):
    """What the engine reports while it runs (the CLI draws it)."""

    def start_epoch(self, epoch: int, epochs: int, batches: int) -> None: ...
    def advance(self, loss: float, accuracy: float, samples_per_s: float) -> None: ...
    def end_epoch(self, row: dict[str, Any]) -> None: ...


class _Silent:
    def start_epoch(self, epoch: int, epochs: int, batches: int) -> None: ...
    def advance(self, loss: float, accuracy: float, samples_per_s: float) -> None: ...
    def end_epoch(self, row: dict[str, Any]) -> None: ...


@dataclass
class RuntimeOptions:
    """Settings that do not change a run's result (not hashed)."""

    device: str = "auto"
    data_dir: str | None = None
    mirror: str | None = None
    out: Path = Path(DEFAULT_RUNS)
    resume: bool = False
    download: bool = True
    tags: dict[str, Any] = field(default_factory=dict)
    command: str = ""  # the command line that started the run (recorded; "" from the Python API)
    cuda_graph: str = "auto"  # replay steps from CUDA graphs: auto (where capturable) | on | off
    threads: int = 0  # torch intra-op threads (0: torch's default); recorded as environment.torch_threads


@dataclass
class RunState:
    """What a run has done so far; saved in every checkpoint (plain data only)."""

    epoch: int = 0
    curves: list[dict[str, Any]] = field(default_factory=list)
    train_time_s: float = 0.0
    eval_time_s: float = 0.0
    step_ms: list[float] = field(default_factory=list)
    train_samples: int = 0
    started_at: str = ""
    environment: dict[str, Any] = field(default_factory=dict)
    spent: dict[str, Any] = field(default_factory=dict)  # the budget meter's counts (snnbench.budget.Spent)
    next_point: int = 0  # the next budget evaluation point
    budget_curve: list[dict[str, Any]] = field(default_factory=list)  # one row per budget evaluation point
    stopped_by: str = ""  # "budget" or "epochs" once the run has ended

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class StepTimer:
    """Times steps with CUDA events on a GPU (read once, at :meth:`collect`) and ``perf_counter``
    elsewhere; the engine and ``snnbench bench`` share it."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        self._events: list[tuple[Any, Any]] = []
        self._ms: list[float] = []
        self._t0 = 0.0

    def start(self) -> None:
        if self.cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            self._events.append((begin, end))
        else:
            self._t0 = time.perf_counter()

    def stop(self) -> None:
        if self.cuda:
            self._events[-1][1].record()
        else:
            self._ms.append((time.perf_counter() - self._t0) * 1000)

    def __len__(self) -> int:
        return len(self._events) if self.cuda else len(self._ms)

    def collect(self) -> list[float]:
        """Milliseconds of every timed step so far (synchronises the device once); clears the timer."""
        if self.cuda:
            torch.cuda.synchronize(self.device)
            self._ms = [b.elapsed_time(e) for b, e in self._events]
            self._events = []
        ms, self._ms = self._ms, []
        return ms


@dataclass
class Run:
    """Everything :func:`fit` and :func:`report` work on, built by :func:`setup`."""

    cfg: RunConfig
    runtime: RuntimeOptions
    device: torch.device
    method: Any
    data: DataBundle
    plan: Any
    model: torch.nn.Module
    trained: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    state: RunState
    lineage: list[dict[str, Any]]
    checkpoint: Path
    backends: list[str]
    ddp: Any = None
    method_facts: dict[str, Any] = field(default_factory=dict)  # from Method.prepare (record: execution.method)
    train_graph: CapturedStep | None = None  # the training step replayed from a CUDA graph (None: eager)
    eval_graph: CapturedStep | None = None
    graph_reason: str = "off"  # why the steps are not graphed, when they are not

    @property
    def main(self) -> bool:
        return self.ddp is None or self.ddp.main


def resolve_device(name: str) -> torch.device:
    if name not in DEVICES and not name.startswith("cuda:"):
        raise ConfigError(f"unknown device {name!r}; valid devices: {', '.join(DEVICES)} (or cuda:N)")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(cfg: RunConfig, runtime: RuntimeOptions, progress: Progress | None = None,
          callback: EpochCallback | None = None) -> tuple[dict[str, Any], Path]:
    """Run ``cfg`` to completion and write its record; returns ``(record, record_path)``.

    ``callback(epoch, row)`` is called after every epoch (1-based epoch, the curve row with
    ``val_acc``); if it raises, the record is written with status "stopped" and the error re-raised.
    """
    run = setup(cfg, runtime)
    try:
        monitors, counters = fit(run, progress or _Silent(), callback)
    except NonFiniteError as err:  # the run is recorded as failed, never as completed
        if run.main:
            write_record(build_record(run, {}, "failed", str(err)), runtime.out)
        raise
    except Exception as err:
        if callback is None or not run.state.curves:
            raise
        record = build_record(run, {}, "stopped", f"{type(err).__name__}: {err}")
        if run.main:
            write_record(record, runtime.out)
        raise
    return report(run, monitors, counters)


class NonFiniteError(FloatingPointError):
    """The training loss or a weight became NaN or infinite: the run stops and is recorded as failed."""


def check_finite(model: torch.nn.Module, loss: float, epoch: int) -> None:
    """Raise :class:`NonFiniteError` naming the loss or the first weights that are not finite."""
    if not math.isfinite(loss):
        raise NonFiniteError(f"training loss became {loss} in epoch {epoch}; the run stopped (status failed)")
    bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise NonFiniteError(f"weights became NaN or infinite in epoch {epoch} ({', '.join(bad[:4])}"
                             f"{', ...' if len(bad) > 4 else ''}); the run stopped (status failed)")


def check_output_dir(out: Path) -> None:
    """Refuse an output folder that cannot be written, before any data loads or training starts."""
    out = Path(out)
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # nothing is created for a run that may fail before it trains
    if not existing.is_dir():
        raise ConfigError(f"--out {out}: {existing} is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".snnbench-write-check-"):
            pass
    except OSError as err:
        raise ConfigError(f"--out {out}: cannot write in {existing} ({err.strerror or err})") from None


def default_threads(threads: int, budget: str, device: torch.device) -> int:
    """The torch threads a run gets (0: leave torch's choice, all cores). Given ``--threads N``, N. Without:
    one thread under a ``cpu_s`` budget on a CPU (the unit the CPU track's cells and the board's budget rows
    are measured in; several threads spend CPU seconds faster than they add samples), else torch's default.
    (Suite workers sharing a machine get their share of the cores: :func:`snnbench.suite.run_workers`.)"""
    if threads < 0:
        raise ConfigError(f"--threads must be >= 1 (or 0 for the default), got {threads}")
    if threads:
        return threads
    if budget.startswith("cpu_s=") and device.type == "cpu":
        log.info("a cpu_s budget runs on one thread (pass --threads N for more: the board keeps N-thread "
                 "budgets apart)")
        return 1
    return 0


def setup(cfg: RunConfig, runtime: RuntimeOptions) -> Run:
    """Everything before the first epoch: checks, device, data, network, optimiser, resumed state."""
    device = resolve_device(runtime.device)
    threads = default_threads(runtime.threads, cfg.budget, device)
    if threads:
        torch.set_num_threads(threads)
    ddp = init_distributed(device)  # under torchrun: one process per device, rank 0 writes
    if ddp is not None:
        device = ddp.device  # cuda:LOCAL_RANK on GPUs
    ckpt = checkpoint_path(cfg, runtime.out)
    if ddp is None or ddp.main:
        check_output_dir(runtime.out)
    blob = resume_blob(cfg, ckpt, runtime.resume)
    parents, weights = init_from(cfg.init_from) if cfg.init_from else ([], None)
    seed_everything(cfg.seed)
    method, dataset = create_method(cfg.method), create_dataset(cfg.dataset)
    graphs = graph_plan(runtime.cuda_graph, device, method, ddp is not None)
    if graphs.error:
        raise ConfigError(graphs.error)
    plan = parse_arch(cfg.arch)
    ctx = DataContext.from_options(runtime.data_dir, runtime.mirror, runtime.download)
    data = prepare_data(cfg, dataset, ctx, device, method.eval_batch_size)
    if ddp is not None:  # each process trains on its shard of the training set
        data.train.indices = data.train.indices[ddp.rank::ddp.world_size]
    model, backends, method_facts = build_model(method, cfg, data.input_shape, dataset.num_classes, device,
                                                ctx.cache_dir, len(data.train.split.labels))
    if weights is not None:
        load_weights(model, weights, cfg.init_from)
    capturable = device.type == "cuda"  # graphed or not, the same optimiser arithmetic on a GPU
    optimizer = make_optimizer(method.param_groups(model, cfg), cfg, capturable=capturable)
    trained: torch.nn.Module = model
    if ddp is not None:
        trained = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    # the environment (git commit, source hash, versions) as the run starts: the code that trains, and how
    # fast the machine runs a GEMM then (outside any budget; draws no random numbers)
    from snnbench.bench import gemm_gflops  # the bench imports this module

    rates = {"gemm_gflops": round(gemm_gflops(device), 1)}
    if device.type == "cpu":  # per CPU second too: what a cpu_s budget buys (the wall rate also sees other load)
        rates["gemm_gflops_cpu"] = round(gemm_gflops(device, clock="cpu"), 1)
    state = RunState(started_at=now(), environment={**environment(str(device)), **rates})
    if blob is not None:
        model.load_state_dict(blob["model"])
        optimizer.load_state_dict(blob["optimizer"])
        set_capturable(optimizer, capturable)
        state = RunState.from_dict(blob["state"])
        set_rng_state(blob["rng"])
        parents = blob.get("lineage", parents)
    run = Run(cfg, runtime, device, method, data, plan, model, trained, optimizer, state, parents, ckpt,
              backends, ddp, method_facts)
    run.graph_reason = graphs.reason
    if graphs.graphed:
        run.train_graph, run.eval_graph = graphed_steps(run)
    return run


def graphed_steps(run: Run, graph: Any = None) -> tuple[CapturedStep, CapturedStep]:
    """The run's training step and evaluation forward as :class:`~snnbench.graphs.CapturedStep` s: the
    training graph is captured again when a learning rate changes (a constant in the graph); ``graph``
    replaces the CUDA graph (tests use :class:`~snnbench.graphs.EmulatedGraph`)."""
    model, method, optimizer, cfg, device = run.trained, run.method, run.optimizer, run.cfg, run.device
    extra = {} if graph is None else {"graph": graph}  # CudaGraph by default

    def step(inputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, output = train_step(model, method, optimizer, inputs, labels, cfg, device, autocast_cache=False)
        return loss.detach(), output.detach()

    def forward(inputs: torch.Tensor) -> tuple[torch.Tensor]:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp, cache_enabled=False):
            return (model(inputs),)

    train = training_graph(step, device, optimizer, batch_size=run.data.train.batch_size, **extra)
    evaluation = CapturedStep(forward, device, name="evaluation forward", batch_size=run.data.test.batch_size,
                              **extra)
    return train, evaluation


def fit(run: Run, progress: Progress, callback: EpochCallback | None = None) -> tuple[dict, dict]:
    """Train the remaining epochs; returns the firing monitors and operation counters of the last
    (measured) test pass."""
    cfg, state = run.cfg, run.state
    monitors: dict = {}  # firing monitors of the last test pass
    counters: dict = {}  # synaptic-operation counters, gathered with the monitors on the last test pass
    meter = Meter(parse_budget(cfg.budget), Spent(**state.spent), state.next_point)
    estimate = Estimate(cfg, run.device, active=run.main)
    for epoch in range(state.epoch, cfg.epochs):
        if meter.exhausted:
            break
        lr = lr_at(epoch, cfg)
        set_lr(run.optimizer, lr)
        row = _train_epoch(run, epoch, progress, meter, estimate)
        run.method.end_epoch(run.model, run.cfg)
        row["lr"] = lr
        eval_start = time.perf_counter()
        val = run.data.val
        last = epoch == cfg.epochs - 1 or meter.exhausted
        # the last budget point's validation accuracy is this evaluation's (one pass, not two)
        final_point = state.budget_curve[-1] if meter.exhausted and state.budget_curve else None
        if final_point is not None and final_point.get("val_acc") is not None:
            row["val_acc"] = final_point["val_acc"]
        else:
            row["val_acc"] = evaluate(run.model, run.method, val, cfg, run.eval_graph) if val is not None else None
        if last:
            row["test_acc"], monitors, counters = measured_test(run.model, run.method, run.data, cfg)
        else:
            row["test_acc"] = evaluate(run.model, run.method, run.data.test, cfg, run.eval_graph)
        if final_point is not None:
            final_point["test_acc"] = row["test_acc"]
        state.eval_time_s += time.perf_counter() - eval_start
        state.curves.append(row)
        state.epoch = epoch + 1
        state.spent, state.next_point = meter.spent.as_dict(), meter.next_point
        if last:
            state.stopped_by = "budget" if meter.exhausted else "epochs"
        if run.main:
            save_checkpoint(run)
        progress.end_epoch(row)
        if callback is not None:
            callback(epoch + 1, row)
    if not monitors:  # nothing left to train (resumed a finished run): one pass for the statistics
        _, monitors, counters = measured_test(run.model, run.method, run.data, cfg)
    return monitors, counters


def report(run: Run, monitors: dict, counters: dict) -> tuple[dict[str, Any], Path]:
    """Build the record from the finished run and write it (rank 0); returns ``(record, path)``."""
    record = build_record(run, monitors, "completed", "")
    firing = record["firing"]
    record["metrics"] = model_metrics(run.model, counters, firing, run.data.test.num_samples) if counters else {}
    if not run.main:
        finish_distributed(run.ddp)
        return record, Path(run.runtime.out) / f"{record['run_id']}.json"  # written by rank 0
    path = write_record(record, run.runtime.out)
    finish_distributed(run.ddp)
    return record, path


def train_step(model: torch.nn.Module, method: Any, optimizer: torch.optim.Optimizer, inputs: torch.Tensor,
               labels: torch.Tensor, cfg: RunConfig, device: torch.device, index: Any = None,
               autocast_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step (forward, loss, backward, clip, optimiser, the method's after-step hook);
    returns ``(loss, output)``. The engine and ``snnbench bench`` time exactly this (``autocast_cache``
    off inside a CUDA graph, as capture under autocast requires)."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp, cache_enabled=autocast_cache):
        output = model(inputs)
        loss = method.loss(output, labels, cfg)
    optimizer.zero_grad(set_to_none=True)
    method.backward(loss, model, output, labels, cfg, index)
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    method.after_step(model, cfg)
    return loss, output


def _budget_point(run: Run, meter: Meter, fraction: float, epoch_progress: float) -> float:
    """Evaluate the validation split at one budget point and append its row; returns the seconds it took
    (evaluation never counts against the budget or the training time)."""
    start = time.perf_counter()
    val = run.data.val
    acc = evaluate(run.model, run.method, val, run.cfg, run.eval_graph) if val is not None else None
    run.trained.train()
    run.state.budget_curve.append({"fraction": fraction, "epoch": round(epoch_progress, 6), **meter.spent.as_dict(),
                                   "val_acc": acc, "test_acc": None})
    return time.perf_counter() - start


def _train_epoch(run: Run, epoch: int, progress: Progress, meter: Meter | None = None,
                 estimate: Estimate | None = None) -> dict[str, Any]:
    cfg, data, device, method = run.cfg, run.data, run.device, run.method
    meter = meter if meter is not None else Meter(None)
    run.trained.train()
    data.train.set_epoch(epoch)
    progress.start_epoch(epoch + 1, cfg.epochs, len(data.train))
    timer = StepTimer(device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    paused = 0.0  # seconds of budget-point evaluation inside this epoch (not training time)
    batches = len(data.train)
    start = time.perf_counter()
    for number, (inputs, labels) in enumerate(data.train, start=1):
        timer.start()
        meter.start_step()
        if run.train_graph is not None:
            loss, output = run.train_graph(inputs, labels)
        else:
            loss, output = train_step(run.trained, method, run.optimizer, inputs, labels, cfg, device,
                                      getattr(data.train, "batch_index", None))
        if meter.budget is not None and device.type == "cuda":
            torch.cuda.synchronize(device)  # a wall or CPU budget counts the step's work, not its launch
        batch = labels.shape[0]
        meter.end_step(batch)
        timer.stop()
        if estimate is not None:
            estimate.step(meter, epoch, number, batches, batch)
        for fraction in meter.due_points():
            paused += _budget_point(run, meter, fraction, epoch + number / batches)
        seen += batch
        loss_sum += loss.detach().float() * batch
        correct += (method.scores(output.detach(), cfg).argmax(1) == labels).sum()
        if not timer.cuda or len(timer) % 20 == 0:
            elapsed = time.perf_counter() - start
            progress.advance(float(loss_sum) / seen, 100.0 * float(correct) / seen, seen / max(elapsed, 1e-9))
        if meter.exhausted:
            break
    step_ms = timer.collect()
    elapsed = time.perf_counter() - start - paused
    check_finite(run.model, float(loss_sum), epoch + 1)
    run.state.train_time_s += elapsed
    run.state.eval_time_s += paused
    run.state.train_samples += seen
    run.state.step_ms.extend(step_ms)
    return {"epoch": epoch + 1, "train_loss": float(loss_sum) / max(seen, 1),
            "train_acc": 100.0 * float(correct) / max(seen, 1), "epoch_time_s": elapsed}



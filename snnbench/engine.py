"""The one training loop every method runs through: ``train = setup → fit → report``.

- :func:`setup` checks the output folder and any checkpoint to resume, then loads the data, builds
  the method's network for its device (binding the neuron backends once) and its optimiser;
- :func:`fit` trains ``cfg.epochs`` epochs with validation and test evaluation after each and a
  checkpoint every epoch (``--resume`` continues from the last one with identical results);
- :func:`report` runs the measured test pass (firing statistics, synaptic operations) and writes
  the run record.

Checkpoints hold plain data only (tensors, numbers, strings, lists, dicts) and are loaded with
``torch.load(weights_only=True)``: a file that needs anything else is refused, never executed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import logging
import math
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from snnbench.arch import parse_arch
from snnbench.budget import Meter, Spent, parse_budget, projected_train_s
from snnbench.config import ConfigError, RunConfig
from snnbench.data import DataBundle, prepare_data
from snnbench.distributed import finish_distributed, init_distributed
from snnbench.files import DataContext, atomic_write_bytes
from snnbench.graphs import CapturedStep, graph_mode_error, training_graph, use_graphs
from snnbench.kernels import bind_backends
from snnbench.metrics import attach_counters, detach_counters, model_metrics
from snnbench.monitor import attach_monitors, detach_monitors
from snnbench.optim import lr_at, make_optimizer, set_capturable, set_lr
from snnbench.records import (
    DEFAULT_RUNS,
    SCHEMA_VERSION,
    Cost,
    Curve,
    Execution,
    Record,
    Results,
    environment,
    read_record,
    record_checkpoint,
    validate_record,
    write_record,
)
from snnbench.registry import create_dataset, create_method

DEVICES = ("auto", "cpu", "cuda")
LONG_RUN_S = 3600.0  # a run whose training is projected to take longer logs its estimate first
ESTIMATE_STEPS = 5  # steps timed for that estimate (after the first, which pays for the warm-up)
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


class _Estimate:
    """Times a fit's first steps and, when its training is projected to take longer than
    :data:`LONG_RUN_S` on this device, logs the estimate once (the run continues)."""

    def __init__(self, run: Run) -> None:
        self.run, self.done, self.steps = run, not run.main, 0
        self.mark: tuple[float, float] | None = None

    def step(self, meter: Meter, epoch: int, number: int, batches: int, batch: int) -> None:
        if self.done:
            return
        if self.mark is None:  # the first step: warm-up, not timed
            self.mark = (meter.spent.wall_s, meter.spent.cpu_s)
            return
        self.steps += 1
        if self.steps < ESTIMATE_STEPS:
            return
        self.done = True
        wall = (meter.spent.wall_s - self.mark[0]) / self.steps
        cpu = (meter.spent.cpu_s - self.mark[1]) / self.steps
        cfg = self.run.cfg
        steps_left = (batches - number) + batches * (cfg.epochs - epoch - 1)
        seconds = projected_train_s(meter.budget, meter.spent, wall, cpu, batch, steps_left)
        if seconds >= LONG_RUN_S:
            limit = f"budget {meter.budget}" if meter.budget is not None else f"{cfg.epochs} epochs"
            log.warning("estimate: training takes about %s on %s (%.3g s a step, timed over %d steps; %s); "
                        "continuing. For a shorter run pass --epochs N or --budget cpu_s=SECONDS",
                        duration_text(seconds), self.run.device, wall, self.steps, limit)


def duration_text(seconds: float) -> str:
    """``5400`` → ``"1.5 h"``; minutes under an hour, seconds under a minute."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


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


def _rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # type: ignore[misc]
    state = {"python": random.getstate(), "numpy": [kind, torch.from_numpy(np.asarray(keys).copy()), pos,
                                                    has_gauss, gauss], "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())  # RNG states are CPU byte tensors whatever the run's device
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def checkpoint_path(cfg: RunConfig, out: Path) -> Path:
    return Path(out) / "checkpoints" / f"{cfg.method}-{cfg.dataset}-{cfg.lineage_hash()}.pt"


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint as plain data (``weights_only=True``); anything else is refused with a
    :class:`ConfigError` naming the file, and nothing in it runs."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any file torch cannot read as plain data (fuzzed files raise
        # IndexError, KeyError, TypeError, ... besides UnpicklingError): one refusal, never torch's advice
        lines = [line.strip() for line in str(err).splitlines() if line.strip() and "weights_only" not in line]
        fallback = lines[0] if lines else type(err).__name__
        first = next((line for line in lines if "Unsupported global" in line), fallback)
        raise ConfigError(f"refusing checkpoint {path}: it is not a plain-data snnbench checkpoint "
                          f"(tensors, numbers, strings, lists, dicts) ({type(err).__name__}: {first[:200]})") from None
    if not isinstance(blob, dict) or "model" not in blob:
        raise ConfigError(f"refusing checkpoint {path}: no model state in it")
    return blob


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


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


def feed_ratio(samples: int, train_time_s: float, step_ms: list[float], batch_size: int) -> float | None:
    """Samples per second over what the training steps alone allow (``1000 × batch / mean ms per step``):
    1 when the input pipeline never makes a step wait, below 1 by the share of time it costs."""
    if not step_ms or not train_time_s or not samples:
        return None
    return round((samples / train_time_s) / (1000.0 * batch_size / statistics.fmean(step_ms)), 4)


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


def _resume_blob(cfg: RunConfig, ckpt: Path, resume: bool) -> dict[str, Any] | None:
    """The checkpoint to resume from (checked against ``cfg`` before any data loads), or None."""
    if not resume or not ckpt.is_file():
        return None
    blob = load_checkpoint(ckpt)
    done = int(blob.get("state", {}).get("epoch", 0))
    saved_epochs = blob.get("config", {}).get("epochs")
    if done > cfg.epochs:
        raise ConfigError(f"--resume: the checkpoint {ckpt} has already trained {done} epochs, more than "
                          f"--epochs {cfg.epochs}; ask for at least {done} epochs")
    if cfg.lr_schedule == "cosine" and saved_epochs is not None and saved_epochs != cfg.epochs and done:
        raise ConfigError(f"--resume: the cosine schedule depends on the number of epochs, and the checkpoint "
                          f"{ckpt} was trained for a {saved_epochs}-epoch run; resume with --epochs {saved_epochs}, "
                          f"or start a new run (without --resume)")
    return blob


def setup(cfg: RunConfig, runtime: RuntimeOptions) -> Run:
    """Everything before the first epoch: checks, device, data, network, optimiser, resumed state."""
    device = resolve_device(runtime.device)
    if runtime.threads < 0:
        raise ConfigError(f"--threads must be >= 1 (or 0 for torch's default), got {runtime.threads}")
    if runtime.threads:
        torch.set_num_threads(runtime.threads)
    ddp = init_distributed(device)  # under torchrun: one process per device, rank 0 writes
    if ddp is not None:
        device = ddp.device  # cuda:LOCAL_RANK on GPUs
    ckpt = checkpoint_path(cfg, runtime.out)
    if ddp is None or ddp.main:
        check_output_dir(runtime.out)
    blob = _resume_blob(cfg, ckpt, runtime.resume)
    parents, weights = _init_from(cfg.init_from) if cfg.init_from else ([], None)
    seed_everything(cfg.seed)
    method, dataset = create_method(cfg.method), create_dataset(cfg.dataset)
    problem = graph_mode_error(runtime.cuda_graph, device, method, ddp is not None)
    if problem:
        raise ConfigError(problem)
    plan = parse_arch(cfg.arch)
    ctx = DataContext.from_options(runtime.data_dir, runtime.mirror, runtime.download)
    data = prepare_data(cfg, dataset, ctx, device, method.eval_batch_size)
    if ddp is not None:  # each process trains on its shard of the training set
        data.train.indices = data.train.indices[ddp.rank::ddp.world_size]
    model = method.build(plan, data.input_shape, dataset.num_classes, cfg).to(device)
    backends = bind_backends(model, device)
    method_facts = method.prepare(model, cfg, ctx.cache_dir, len(data.train.split.labels))
    if weights is not None:
        _load_weights(model, weights, cfg.init_from)
    capturable = device.type == "cuda"  # graphed or not, the same optimiser arithmetic on a GPU
    optimizer = make_optimizer(method.param_groups(model, cfg), cfg, capturable=capturable)
    trained: torch.nn.Module = model
    if ddp is not None:
        trained = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    # the environment (git commit, source hash, versions) as the run starts: the code that trains
    state = RunState(started_at=_now(), environment=environment(str(device)))
    if blob is not None:
        model.load_state_dict(blob["model"])
        optimizer.load_state_dict(blob["optimizer"])
        set_capturable(optimizer, capturable)
        state = RunState.from_dict(blob["state"])
        _set_rng_state(blob["rng"])
        parents = blob.get("lineage", parents)
    run = Run(cfg, runtime, device, method, data, plan, model, trained, optimizer, state, parents, ckpt,
              backends, ddp, method_facts)
    graphed, run.graph_reason = use_graphs(runtime.cuda_graph, device, method, ddp is not None)
    if graphed:
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
    estimate = _Estimate(run)
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
            row["val_acc"] = _evaluate(run.model, run.method, val, cfg, run.eval_graph) if val is not None else None
        if last:
            row["test_acc"], monitors, counters = _measured_test(run.model, run.method, run.data, cfg)
        else:
            row["test_acc"] = _evaluate(run.model, run.method, run.data.test, cfg, run.eval_graph)
        if final_point is not None:
            final_point["test_acc"] = row["test_acc"]
        state.eval_time_s += time.perf_counter() - eval_start
        state.curves.append(row)
        state.epoch = epoch + 1
        state.spent, state.next_point = meter.spent.as_dict(), meter.next_point
        if last:
            state.stopped_by = "budget" if meter.exhausted else "epochs"
        if run.main:
            _save_checkpoint(run)
        progress.end_epoch(row)
        if callback is not None:
            callback(epoch + 1, row)
    if not monitors:  # nothing left to train (resumed a finished run): one pass for the statistics
        _, monitors, counters = _measured_test(run.model, run.method, run.data, cfg)
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
    acc = _evaluate(run.model, run.method, val, run.cfg, run.eval_graph) if val is not None else None
    run.trained.train()
    run.state.budget_curve.append({"fraction": fraction, "epoch": round(epoch_progress, 6), **meter.spent.as_dict(),
                                   "val_acc": acc, "test_acc": None})
    return time.perf_counter() - start


def _train_epoch(run: Run, epoch: int, progress: Progress, meter: Meter | None = None,
                 estimate: _Estimate | None = None) -> dict[str, Any]:
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


@torch.no_grad()
def _evaluate(model, method, loader, cfg: RunConfig, graph: CapturedStep | None = None) -> float:
    """Test accuracy (%) over ``loader``; ``graph`` replays the forward (the measured pass, with its
    hooks, runs eagerly)."""
    model.eval()
    device = next(model.parameters()).device
    correct, total = torch.zeros((), dtype=torch.long, device=device), 0
    for inputs, labels in loader:
        if graph is not None:
            (output,) = graph(inputs)
        else:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp):
                output = model(inputs)
        correct += (method.scores(output.float(), cfg).argmax(1) == labels).sum()
        total += labels.shape[0]
    return 100.0 * int(correct) / max(total, 1)


def _measured_test(model, method, data: DataBundle, cfg: RunConfig) -> tuple[float, dict, dict]:
    """The test pass with firing monitors and synaptic-operation counters attached."""
    monitors, counters = attach_monitors(model), attach_counters(model)
    try:
        return _evaluate(model, method, data.test, cfg), monitors, counters
    finally:
        detach_monitors(model)
        detach_counters(counters)


def _save_checkpoint(run: Run) -> None:
    buffer = io.BytesIO()
    torch.save({"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
                "state": run.state.as_dict(), "rng": _rng_state(), "lineage": run.lineage,
                "config": run.cfg.as_dict()}, buffer)
    atomic_write_bytes(run.checkpoint, buffer.getvalue())


def _init_from(source: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The lineage and checkpoint of a checkpoint (``.pt``) or run record (``.json``) to start from;
    checked before any data loads."""
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"init_from {source!r}: no such checkpoint or record file")
    if path.suffix == ".json":
        record = read_record(path)
        problems = validate_record(record)
        if problems:
            raise ConfigError(f"init_from {source!r}: not a valid run record ({problems[0]})")
        parent = record.get("lineage", []) + [{
            "run_id": record["run_id"], "config_hash": record["config_hash"], "steps": record["steps"],
            "epochs": record["epochs"], "train_time_s": record["cost"]["train_time_s"]}]
        ckpt = record_checkpoint(record, path)
        if ckpt is None or not ckpt.is_file():
            raise ConfigError(f"init_from {source!r}: its checkpoint {record.get('checkpoint')!r} is not there")
        return parent, load_checkpoint(ckpt)
    blob = load_checkpoint(path)
    config, state = blob.get("config", {}), blob.get("state", {})
    return blob.get("lineage", []) + [{
        "checkpoint": str(path), "config_hash": _config_hash(config), "steps": config.get("steps"),
        "epochs": state.get("epoch"), "train_time_s": state.get("train_time_s", 0.0)}], blob


def _load_weights(model: torch.nn.Module, blob: dict[str, Any], source: str) -> None:
    try:
        model.load_state_dict(blob["model"])
    except RuntimeError as err:
        raise ConfigError(f"init_from {source!r}: its network does not match this run's ({err})") from err


def _config_hash(config: dict[str, Any]) -> str | None:
    try:
        return RunConfig(**config).hash()
    except (TypeError, ConfigError):  # a checkpoint from an older config schema
        return None


def best_epoch_index(curves: list[dict[str, Any]]) -> int | None:
    """The epoch (0-based) the headline reports: the highest validation accuracy, the earliest on a
    tie; the last epoch when there is no validation split; None before any epoch."""
    val = [(row["val_acc"], i) for i, row in enumerate(curves) if row.get("val_acc") is not None]
    if val:
        return max(val, key=lambda v: (v[0], -v[1]))[1]
    return len(curves) - 1 if curves else None


def budget_summary(cfg: RunConfig, state: RunState) -> dict[str, Any] | None:
    """The record's ``budget``: what was allowed, what was spent, what stopped the run, and the
    accuracy-against-cost points (None for a run without a budget)."""
    budget = parse_budget(cfg.budget)
    if budget is None:
        return None
    return {"kind": budget.kind, "value": budget.value, "spent": Spent(**state.spent).as_dict(),
            "stopped_by": state.stopped_by or "not finished", "points": [dict(p) for p in state.budget_curve]}


def build_record(run: Run, monitors: dict, status: str, stop_reason: str) -> dict[str, Any]:
    """The run record (schema :data:`~snnbench.records.SCHEMA_VERSION`) of ``run`` as it stands."""
    cfg, state, curves = run.cfg, run.state, run.state.curves
    best = best_epoch_index(curves)
    step_ms = state.step_ms[1:] if len(state.step_ms) > 1 else state.step_ms
    finished = _now()
    stamp = finished[:26].replace(":", "").replace(".", "")
    run_id = f"{cfg.method}-{cfg.dataset}-T{cfg.steps}-{cfg.hash()[:8]}-s{cfg.seed}-{stamp}-{os.urandom(3).hex()}"
    peak = torch.cuda.max_memory_allocated(run.device) / 2**20 if run.device.type == "cuda" else None
    tests = [row["test_acc"] for row in curves]
    return Record(
        schema_version=SCHEMA_VERSION, run_id=run_id, status=status, stop_reason=stop_reason,
        method=cfg.method, dataset=cfg.dataset, dataset_info=run.data.info, arch=cfg.arch,
        arch_resolved=str(run.plan), steps=cfg.steps, epochs=len(curves), seed=cfg.seed,
        config=cfg.as_dict(), config_hash=cfg.hash(), curves=[Curve(**row) for row in curves],
        results=Results(
            best_val_epoch=best + 1 if best is not None else None,
            test_acc_at_best_val=curves[best]["test_acc"] if best is not None else None,
            test_acc_last=curves[-1]["test_acc"] if curves else None,
            best_val_acc=curves[best]["val_acc"] if best is not None else None,
            max_test_acc=max(tests) if tests else None,  # the reference codes' convention
            max_test_epoch=tests.index(max(tests)) + 1 if tests else None,
        ),
        cost=Cost(
            train_time_s=state.train_time_s, eval_time_s=state.eval_time_s,
            ms_per_step=statistics.fmean(step_ms) if step_ms else None,
            median_ms_per_step=statistics.median(step_ms) if step_ms else None,
            samples_per_s=state.train_samples / state.train_time_s if state.train_time_s else None,
            peak_gpu_mem_mib=peak, params=sum(p.numel() for p in run.model.parameters() if p.requires_grad),
            total_train_time_s=state.train_time_s + sum(p.get("train_time_s", 0.0) for p in run.lineage),
            feed_ratio=feed_ratio(state.train_samples, state.train_time_s, step_ms, cfg.batch_size),
        ),
        execution=Execution(
            backends=run.backends,
            param_groups=[{"name": g.get("name", str(i)), "lr_scale": g.get("lr_scale", 1.0),
                           "params": sum(p.numel() for p in g["params"])}
                          for i, g in enumerate(run.optimizer.param_groups)],
            shared_device=bool(run.runtime.tags.get("shared_device", False)),
            method=run.method_facts,
            cuda_graph=run.train_graph.status if run.train_graph is not None else run.graph_reason,
        ),
        firing={name: m.summary() for name, m in monitors.items()}, metrics={},
        distributed={"world_size": run.ddp.world_size if run.ddp else 1,
                     "backend": run.ddp.backend if run.ddp else None},
        lineage=run.lineage, tags=dict(run.runtime.tags), command=run.runtime.command or None, time_scaling=[],
        budget=budget_summary(cfg, state),
        checkpoint=os.path.relpath(run.checkpoint.resolve(), Path(run.runtime.out).resolve()),
        started_at=state.started_at, finished_at=finished,
        environment=state.environment or environment(str(run.device)),
    ).as_dict()

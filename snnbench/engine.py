"""The one training loop every method runs through.

``train(cfg, runtime)`` loads the data, builds the method's network from the layer plan, trains for
``cfg.epochs`` epochs with validation and test evaluation after each, checkpoints every epoch
(``--resume`` continues from the last one with identical results on the CPU), measures time and
memory, gathers firing statistics on the test set, and writes the run record.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from snnbench.arch import parse_arch
from snnbench.config import ConfigError, RunConfig
from snnbench.data import DataBundle, prepare_data
from snnbench.distributed import finish_distributed, init_distributed
from snnbench.files import DataContext, atomic_write_bytes
from snnbench.methods.base import lr_at
from snnbench.metrics import attach_counters, detach_counters, model_metrics
from snnbench.monitor import attach_monitors, detach_monitors
from snnbench.records import SCHEMA_VERSION, environment, read_record, write_record
from snnbench.registry import create_dataset, create_method

DEVICES = ("auto", "cpu", "cuda")
EpochCallback = Callable[[int, dict[str, Any]], None]


class Progress(Protocol):
    """What the engine reports while it runs (the CLI draws it with rich)."""

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
    out: Path = Path("leaderboards/runs")
    resume: bool = False
    download: bool = True
    tags: dict[str, Any] = field(default_factory=dict)


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
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())  # RNG states are CPU byte tensors whatever the run's device
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def checkpoint_path(cfg: RunConfig, out: Path) -> Path:
    return Path(out) / "checkpoints" / f"{cfg.method}-{cfg.dataset}-{cfg.lineage_hash()}.pt"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def train(cfg: RunConfig, runtime: RuntimeOptions, progress: Progress | None = None,
          callback: EpochCallback | None = None) -> tuple[dict[str, Any], Path]:
    """Run ``cfg`` to completion and write its record; returns ``(record, record_path)``.

    ``callback(epoch, row)`` is called after every epoch (1-based epoch, the curve row with
    ``val_acc``); if it raises, the record is written with status "stopped" and the error re-raised.
    """
    progress = progress or _Silent()
    device = resolve_device(runtime.device)
    ddp = init_distributed()  # under torchrun: one process per device, rank 0 writes
    if ddp is not None and device.type == "cuda":
        device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    seed_everything(cfg.seed)
    method, dataset = create_method(cfg.method), create_dataset(cfg.dataset)
    plan = parse_arch(cfg.arch)
    ctx = DataContext.from_options(runtime.data_dir, runtime.mirror, runtime.download)
    data = prepare_data(cfg, dataset, ctx, device)
    if ddp is not None:  # each process trains on its shard of the training set
        data.train.indices = data.train.indices[ddp.rank::ddp.world_size]
    model = method.build(plan, data.input_shape, dataset.num_classes, cfg).to(device)
    lineage = _init_from(model, cfg.init_from, device) if cfg.init_from else []
    optimizer = method.make_optimizer(model, cfg)
    trained: torch.nn.Module = model
    if ddp is not None:
        trained = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    # the environment (git commit, source hash, versions) as the run starts: the code that trains
    state: dict[str, Any] = {"epoch": 0, "curves": [], "train_time_s": 0.0, "eval_time_s": 0.0,
                             "step_ms": [], "train_samples": 0, "started_at": _now(),
                             "environment": environment(str(device))}
    ckpt = checkpoint_path(cfg, runtime.out)
    if runtime.resume and ckpt.is_file():
        # load on the CPU: load_state_dict moves weights and optimiser state to the parameters' device
        blob = torch.load(ckpt, map_location="cpu", weights_only=False)
        model.load_state_dict(blob["model"])
        optimizer.load_state_dict(blob["optimizer"])
        state = blob["state"]
        _set_rng_state(blob["rng"])
        lineage = blob.get("lineage", lineage)

    status, stop_reason = "completed", ""
    monitors: dict = {}  # firing monitors of the last test pass
    counters: dict = {}  # synaptic-operation counters, gathered with the monitors on the last test pass
    try:
        for epoch in range(state["epoch"], cfg.epochs):
            lr = lr_at(epoch, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            row = _train_epoch(trained, method, optimizer, data, cfg, device, epoch, progress, state)
            row["lr"] = lr
            last = epoch == cfg.epochs - 1
            eval_start = time.perf_counter()
            row["val_acc"] = _evaluate(model, method, data.val, cfg) if data.val is not None else None
            if last:
                row["test_acc"], monitors, counters = _measured_test(model, method, data, cfg)
            else:
                row["test_acc"] = _evaluate(model, method, data.test, cfg)
            state["eval_time_s"] += time.perf_counter() - eval_start
            state["curves"].append(row)
            state["epoch"] = epoch + 1
            if ddp is None or ddp.main:
                _save_checkpoint(ckpt, model, optimizer, state, lineage, cfg)
            progress.end_epoch(row)
            if callback is not None:
                callback(epoch + 1, row)
        if not monitors:  # nothing left to train (resumed a finished run): one pass for the statistics
            _, monitors, counters = _measured_test(model, method, data, cfg)
    except Exception as err:
        if callback is None or not state["curves"]:
            raise
        status, stop_reason = "stopped", f"{type(err).__name__}: {err}"
        record = _record(cfg, runtime, data, plan, model, state, {}, status, stop_reason, lineage, device, ckpt)
        if ddp is None or ddp.main:
            write_record(record, runtime.out)
        raise
    record = _record(cfg, runtime, data, plan, model, state, monitors, status, stop_reason, lineage, device, ckpt)
    firing = record["firing"]
    record["metrics"] = model_metrics(model, counters, firing, data.test.num_samples) if counters else {}
    record["distributed"] = {"world_size": ddp.world_size if ddp else 1, "backend": ddp.backend if ddp else None}
    if ddp is not None and not ddp.main:
        finish_distributed(ddp)
        return record, Path(runtime.out) / f"{record['run_id']}.json"  # written by rank 0
    path = write_record(record, runtime.out)
    finish_distributed(ddp)
    return record, path


def train_step(model: torch.nn.Module, method: Any, optimizer: torch.optim.Optimizer, inputs: torch.Tensor,
               labels: torch.Tensor, cfg: RunConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step (forward, loss, backward, clip, optimiser, the method's after-step hook);
    returns ``(loss, output)``. The engine and ``snnbench bench`` time exactly this."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp):
        output = model(inputs)
        loss = method.loss(output, labels, cfg)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    method.after_step(model, cfg)
    return loss, output


def _train_epoch(model, method, optimizer, data: DataBundle, cfg: RunConfig, device: torch.device, epoch: int,
                 progress: Progress, state: dict[str, Any]) -> dict[str, Any]:
    model.train()
    data.train.set_epoch(epoch)
    progress.start_epoch(epoch + 1, cfg.epochs, len(data.train))
    cuda = device.type == "cuda"
    events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
    step_ms: list[float] = []
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    start = time.perf_counter()
    for inputs, labels in data.train:
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
        else:
            t0 = time.perf_counter()
        loss, output = train_step(model, method, optimizer, inputs, labels, cfg, device)
        if cuda:
            end.record()
            events.append((begin, end))
        else:
            step_ms.append((time.perf_counter() - t0) * 1000)
        batch = labels.shape[0]
        seen += batch
        loss_sum += loss.detach().float() * batch
        correct += (method.scores(output.detach(), cfg).argmax(1) == labels).sum()
        if not cuda or len(events) % 20 == 0:
            elapsed = time.perf_counter() - start
            progress.advance(float(loss_sum) / seen, 100.0 * float(correct) / seen, seen / max(elapsed, 1e-9))
    if cuda:
        torch.cuda.synchronize(device)
        step_ms = [b.elapsed_time(e) for b, e in events]
    elapsed = time.perf_counter() - start
    if not math.isfinite(float(loss_sum)):
        raise FloatingPointError(f"training loss became {float(loss_sum)} in epoch {epoch + 1}")
    state["train_time_s"] += elapsed
    state["train_samples"] += seen
    state["step_ms"].extend(step_ms)
    return {"epoch": epoch + 1, "train_loss": float(loss_sum) / max(seen, 1),
            "train_acc": 100.0 * float(correct) / max(seen, 1), "epoch_time_s": elapsed}


@torch.no_grad()
def _evaluate(model, method, loader, cfg: RunConfig) -> float:
    model.eval()
    correct, total = 0, 0
    device = next(model.parameters()).device
    for inputs, labels in loader:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp):
            output = model(inputs)
        correct += int((method.scores(output.float(), cfg).argmax(1) == labels).sum())
        total += labels.shape[0]
    return 100.0 * correct / max(total, 1)


def _measured_test(model, method, data: DataBundle, cfg: RunConfig) -> tuple[float, dict, dict]:
    """The test pass with firing monitors and synaptic-operation counters attached."""
    monitors, counters = attach_monitors(model), attach_counters(model)
    try:
        return _evaluate(model, method, data.test, cfg), monitors, counters
    finally:
        detach_monitors(model)
        detach_counters(counters)


def _save_checkpoint(path: Path, model, optimizer, state: dict[str, Any], lineage: list, cfg: RunConfig) -> None:
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": state,
                "rng": _rng_state(), "lineage": lineage, "config": cfg.as_dict()}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _init_from(model, source: str, device: torch.device) -> list[dict[str, Any]]:
    """Load weights from a checkpoint (``.pt``) or a run record (``.json``); return the lineage."""
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"init_from {source!r}: no such checkpoint or record file")
    parent: list[dict[str, Any]] = []
    if path.suffix == ".json":
        record = read_record(path)
        parent = record.get("lineage", []) + [{
            "run_id": record["run_id"], "config_hash": record["config_hash"], "steps": record["steps"],
            "epochs": record["epochs"], "train_time_s": record["cost"]["train_time_s"]}]
        path = Path(record["checkpoint"])
    blob = torch.load(path, map_location=device, weights_only=False)
    try:
        model.load_state_dict(blob["model"])
    except RuntimeError as err:
        raise ConfigError(f"init_from {source!r}: its network does not match this run's ({err})") from err
    if parent:
        return parent
    config, state = blob.get("config", {}), blob.get("state", {})
    return blob.get("lineage", []) + [{
        "checkpoint": str(path), "config_hash": _config_hash(config), "steps": config.get("steps"),
        "epochs": state.get("epoch"), "train_time_s": state.get("train_time_s", 0.0)}]


def _config_hash(config: dict[str, Any]) -> str | None:
    try:
        return RunConfig(**config).hash()
    except TypeError:  # a checkpoint from an older config schema
        return None


def _record(cfg: RunConfig, runtime: RuntimeOptions, data: DataBundle, plan, model, state: dict[str, Any],
            monitors: dict, status: str, stop_reason: str, lineage: list, device: torch.device,
            ckpt: Path) -> dict[str, Any]:
    curves = state["curves"]
    val = [(row["val_acc"], i) for i, row in enumerate(curves) if row["val_acc"] is not None]
    best = max(val, key=lambda v: (v[0], -v[1]))[1] if val else (len(curves) - 1 if curves else None)
    step_ms = state["step_ms"][1:] if len(state["step_ms"]) > 1 else state["step_ms"]
    finished = _now()
    run_id = f"{cfg.method}-{cfg.dataset}-T{cfg.steps}-{cfg.hash()[:8]}-s{cfg.seed}-{finished[:19].replace(':', '')}"
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "status": status, "stop_reason": stop_reason,
        "method": cfg.method, "dataset": cfg.dataset, "dataset_info": data.info, "arch": cfg.arch,
        "arch_resolved": str(plan), "steps": cfg.steps, "epochs": len(curves), "seed": cfg.seed,
        "config": cfg.as_dict(), "config_hash": cfg.hash(), "curves": curves,
        "results": {
            "best_val_epoch": best + 1 if best is not None else None,
            "test_acc_at_best_val": curves[best]["test_acc"] if best is not None else None,
            "test_acc_last": curves[-1]["test_acc"] if curves else None,
            "best_val_acc": curves[best]["val_acc"] if best is not None else None,
        },
        "cost": {
            "train_time_s": state["train_time_s"], "eval_time_s": state["eval_time_s"],
            "ms_per_step": statistics.fmean(step_ms) if step_ms else None,
            "median_ms_per_step": statistics.median(step_ms) if step_ms else None,
            "samples_per_s": state["train_samples"] / state["train_time_s"] if state["train_time_s"] else None,
            "peak_gpu_mem_mib": peak, "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total_train_time_s": state["train_time_s"] + sum(p.get("train_time_s", 0.0) for p in lineage),
        },
        "firing": {name: m.summary() for name, m in monitors.items()},
        "lineage": lineage, "tags": dict(runtime.tags), "checkpoint": str(ckpt.resolve()),
        "started_at": state["started_at"], "finished_at": finished,
        "environment": state.get("environment") or environment(str(device)),
    }

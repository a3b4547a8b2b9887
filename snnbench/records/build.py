"""The run record of a training run: the headline epoch, the budget summary, the costs, and the
:class:`~snnbench.records.Record` built from a run as it stands (completed, stopped or failed)."""

from __future__ import annotations

import datetime as dt
import os
import statistics
from pathlib import Path
from typing import Any

import torch

from snnbench.budget import Spent, parse_budget
from snnbench.config import RunConfig

from .grouping import grouping
from .provenance import environment
from .schema import SCHEMA_VERSION, Cost, Curve, Execution, Record, Results


def now() -> str:
    """The current UTC time as the records write it (ISO 8601, microseconds)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def feed_ratio(samples: int, train_time_s: float, step_ms: list[float], batch_size: int) -> float | None:
    """Samples per second over what the training steps alone allow (``1000 × batch / mean ms per step``):
    1 when the input pipeline never makes a step wait, below 1 by the share of time it costs."""
    if not step_ms or not train_time_s or not samples:
        return None
    return round((samples / train_time_s) / (1000.0 * batch_size / statistics.fmean(step_ms)), 4)


def best_epoch_index(curves: list[dict[str, Any]]) -> int | None:
    """The epoch (0-based) the headline reports: the highest validation accuracy, the earliest on a
    tie; the last epoch when there is no validation split; None before any epoch."""
    val = [(row["val_acc"], i) for i, row in enumerate(curves) if row.get("val_acc") is not None]
    if val:
        return max(val, key=lambda v: (v[0], -v[1]))[1]
    return len(curves) - 1 if curves else None


def budget_summary(cfg: RunConfig, state: Any) -> dict[str, Any] | None:
    """The record's ``budget``: what was allowed, what was spent, what stopped the run, and the
    accuracy-against-cost points (None for a run without a budget)."""
    budget = parse_budget(cfg.budget)
    if budget is None:
        return None
    return {"kind": budget.kind, "value": budget.value, "spent": Spent(**state.spent).as_dict(),
            "stopped_by": state.stopped_by or "not finished", "points": [dict(p) for p in state.budget_curve]}


def build_record(run: Any, monitors: dict, status: str, stop_reason: str) -> dict[str, Any]:
    """The run record (schema :data:`~snnbench.records.SCHEMA_VERSION`) of ``run`` as it stands."""
    cfg, state, curves = run.cfg, run.state, run.state.curves
    finished = now()
    stamp = finished[:26].replace(":", "").replace(".", "")
    run_id = f"{cfg.method}-{cfg.dataset}-T{cfg.steps}-{cfg.hash()[:8]}-s{cfg.seed}-{stamp}-{os.urandom(3).hex()}"
    return Record(
        schema_version=SCHEMA_VERSION, run_id=run_id, status=status, stop_reason=stop_reason,
        method=cfg.method, dataset=cfg.dataset, dataset_info=run.data.info, arch=cfg.arch,
        arch_resolved=str(run.plan), steps=cfg.steps, epochs=len(curves), seed=cfg.seed,
        config=cfg.as_dict(), config_hash=cfg.hash(), curves=[Curve(**row) for row in curves],
        results=_results(curves), cost=_cost(run), execution=_execution(run),
        firing={name: m.summary() for name, m in monitors.items()}, metrics={},
        distributed={"world_size": run.ddp.world_size if run.ddp else 1,
                     "backend": run.ddp.backend if run.ddp else None},
        lineage=run.lineage, tags=dict(run.runtime.tags), command=run.runtime.command or None, time_scaling=[],
        budget=budget_summary(cfg, state),
        checkpoint=os.path.relpath(run.checkpoint.resolve(), Path(run.runtime.out).resolve()),
        started_at=state.started_at, finished_at=finished,
        environment=state.environment or environment(str(run.device)),
        **grouping(cfg.method, cfg.dataset, cfg.as_dict()),
    ).as_dict()


def _results(curves: list[dict]) -> Results:
    """The headline (test accuracy at the best-validation epoch), the last, and the references' maximum."""
    best = best_epoch_index(curves)
    tests = [row["test_acc"] for row in curves]
    return Results(
        best_val_epoch=best + 1 if best is not None else None,
        test_acc_at_best_val=curves[best]["test_acc"] if best is not None else None,
        test_acc_last=curves[-1]["test_acc"] if curves else None,
        best_val_acc=curves[best]["val_acc"] if best is not None else None,
        max_test_acc=max(tests) if tests else None,  # the reference codes' convention
        max_test_epoch=tests.index(max(tests)) + 1 if tests else None,
    )


def _cost(run: Any) -> Cost:
    """Training and evaluation time, step times (the first step, with its warm-up, left out), memory."""
    state = run.state
    step_ms = state.step_ms[1:] if len(state.step_ms) > 1 else state.step_ms
    return Cost(
        train_time_s=state.train_time_s, eval_time_s=state.eval_time_s,
        ms_per_step=statistics.fmean(step_ms) if step_ms else None,
        median_ms_per_step=statistics.median(step_ms) if step_ms else None,
        samples_per_s=state.train_samples / state.train_time_s if state.train_time_s else None,
        peak_gpu_mem_mib=torch.cuda.max_memory_allocated(run.device) / 2**20 if run.device.type == "cuda" else None,
        params=sum(p.numel() for p in run.model.parameters() if p.requires_grad),
        total_train_time_s=state.train_time_s + sum(p.get("train_time_s", 0.0) for p in run.lineage),
        feed_ratio=feed_ratio(state.train_samples, state.train_time_s, step_ms, run.cfg.batch_size),
    )


def _execution(run: Any) -> Execution:
    """What ran: the neuron backends, the optimiser's groups, whether the device was shared, graphs."""
    return Execution(
        backends=run.backends,
        param_groups=[{"name": g.get("name", str(i)), "lr_scale": g.get("lr_scale", 1.0),
                       "params": sum(p.numel() for p in g["params"])}
                      for i, g in enumerate(run.optimizer.param_groups)],
        shared_device=bool(run.runtime.tags.get("shared_device", False)),
        method=run.method_facts,
        cuda_graph=run.train_graph.status if run.train_graph is not None else run.graph_reason,
    )


__all__ = ["best_epoch_index", "budget_summary", "build_record", "feed_ratio", "now"]

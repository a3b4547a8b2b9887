"""Run records, the schema: one JSON document per run, versioned and validated.

Schema (``schema_version`` 8; older records are upgraded once, on disk, by ``snnbench records upgrade``
(:func:`upgrade_record`); readers refuse them). The
types are the dataclasses below (:class:`Record` and its parts), from which :data:`SCHEMA` and
:func:`validate_record` are derived. Top-level fields:

- ``schema_version`` int; ``run_id`` str; ``status`` "completed" | "stopped" | "failed";
  ``stop_reason`` str (empty unless stopped);
- ``method``, ``dataset`` (registry names), ``dataset_info`` (variant, exactness, file md5s, encoding,
  split sizes), ``arch`` (as given), ``arch_resolved`` (the parsed plan), ``steps`` (T), ``epochs``
  (epochs run), ``seed``;
- ``config`` (the fully resolved :class:`~snnbench.config.RunConfig`), ``config_hash`` (its
  :meth:`~snnbench.config.RunConfig.hash`: fields added after the record stay out of it, so
  ``snnbench run --from-record`` reproduces it);
- ``curves``: one entry per epoch with ``epoch``, ``train_loss``, ``train_acc``, ``val_acc``
  (null without a validation split), ``test_acc``, ``epoch_time_s``, ``lr``;
- ``results``: ``best_val_epoch`` (1-based), ``test_acc_at_best_val`` (snnbench's headline),
  ``test_acc_last``, ``best_val_acc``, ``max_test_acc`` and ``max_test_epoch`` (the reference codes'
  convention: the best test accuracy over epochs, no selection claim) (accuracies in %);
- ``cost``: ``train_time_s`` (sum of training epochs' wall time, this run and any resumed part),
  ``eval_time_s``, ``ms_per_step`` (mean over training steps; CUDA events on a GPU),
  ``median_ms_per_step``, ``samples_per_s``, ``peak_gpu_mem_mib`` (null on the CPU), ``params``,
  ``total_train_time_s`` (with every stage of the lineage), ``feed_ratio`` (``samples_per_s`` over what
  the steps alone allow, ``1000 × batch / ms_per_step``: below 1 the input pipeline, evaluation excluded,
  costs time; null before schema 5);
- ``execution``: ``backends`` (the neuron kernels that ran: ``torch`` and/or ``triton``), ``method``
  (what the rule prepared for itself, e.g. ST-RSBP's effect table and its SHA-256),
  ``param_groups`` (name, ``lr_scale``, parameter count), ``shared_device`` (other runs shared the
  device, so the times are not comparable), ``cuda_graph`` (``on``: the steps were replayed from CUDA
  graphs; ``off: <why>`` otherwise, ``off: before schema 6`` for an older record);
- ``metrics``: NeuroBench-style operation counts and sparsity (:mod:`snnbench.metrics`);
- ``distributed``: ``world_size`` and process-group ``backend``;
- ``checkpoint``: the last checkpoint's path relative to the record's folder;
- ``firing``: per spiking layer (test set, final model): ``neurons``, ``mean_rate``,
  ``silent_fraction``, ``spikes_per_sample``, ``share_zero``/``share_once``/``share_more``,
  ``count_histogram``;
- ``lineage``: list of earlier runs this one started from (time-inheritance training);
- ``command``: the command line that made the run (null when it is not known);
- ``time_scaling``: test accuracy at other evaluation T (``snnbench eval --steps``), each ``steps``,
  ``test_acc``;
- ``tags``: free-form dict (e.g. Optuna study and trial);
- ``started_at``, ``finished_at`` (ISO 8601 UTC); ``environment`` (git commit and dirty flag,
  python, torch, triton, numpy, CUDA, GPU name, CPU, platform, hostname, snnbench version, torch threads);
- ``budget`` (schema 7; null for a run without one): ``kind`` (cpu_s, wall_s, samples, updates), ``value``,
  ``spent`` (all four counts), ``stopped_by`` ("budget" or "epochs") and ``points``: the validation
  accuracy at log-spaced fractions of the budget (``fraction``, ``epoch``, the four counts, ``val_acc``,
  and ``test_acc`` at the last point), see :mod:`snnbench.budget`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 8
DEFAULT_RUNS = "leaderboards/runs"  # the one default records folder (CLI, engine, tune, leaderboard)
STATUSES = ("completed", "stopped", "failed")
Number = float  # a JSON number: an int is accepted where a float is declared


@dataclass
class Curve:
    """One epoch of a run."""

    epoch: int
    train_loss: Number
    train_acc: Number
    val_acc: Number | None
    test_acc: Number
    epoch_time_s: Number
    lr: Number


@dataclass
class Results:
    """Accuracies in %; ``test_acc_at_best_val`` is snnbench's headline, ``max_test_acc`` the reference codes'."""

    best_val_epoch: int | None
    test_acc_at_best_val: Number | None
    test_acc_last: Number | None
    best_val_acc: Number | None
    max_test_acc: Number | None
    max_test_epoch: int | None


@dataclass
class Cost:
    """What the run cost: wall time, step time, throughput, memory, parameters."""

    train_time_s: Number
    eval_time_s: Number
    ms_per_step: Number | None
    median_ms_per_step: Number | None
    samples_per_s: Number | None
    peak_gpu_mem_mib: Number | None
    params: int
    total_train_time_s: Number
    feed_ratio: Number | None = None  # samples_per_s / (1000 · batch / ms_per_step): 1 = the steps never wait


@dataclass
class Execution:
    """How the run executed: the neuron kernels that ran, the optimiser's groups, device sharing, and
    what the rule prepared for itself (``method``: e.g. ST-RSBP's effect table and its hash)."""

    backends: list
    param_groups: list
    shared_device: bool
    method: dict
    cuda_graph: str = "off"  # "on" (steps replayed from CUDA graphs) or "off: <why>"


@dataclass
class Record:
    """A run record; :data:`SCHEMA` and :func:`validate_record` are derived from these fields."""

    schema_version: int
    run_id: str
    status: str
    stop_reason: str
    method: str
    dataset: str
    dataset_info: dict
    arch: str
    arch_resolved: str
    steps: int
    epochs: int
    seed: int
    config: dict
    config_hash: str
    curves: list[Curve]
    results: Results
    cost: Cost
    execution: Execution
    firing: dict
    metrics: dict
    distributed: dict
    lineage: list
    tags: dict
    command: str | None
    time_scaling: list
    checkpoint: str
    started_at: str
    finished_at: str
    environment: dict
    budget: dict | None = None
    setting_hash: str = ""  # the board's row key and the overrides shown, decided once (records.grouping)
    overrides: dict | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON document (field order as declared)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """The typed record of a valid JSON document (:func:`validate_record` finds no problem in it): its
        curves, results, cost and execution become their dataclasses; nothing is lost, since a valid
        document has no field the schema does not declare."""
        return _typed(cls, data)


def _typed(cls: type, data: dict[str, Any]) -> Any:
    nested = _nested(cls)
    values = {}
    for name, value in data.items():
        if name in nested:
            inner, is_list = nested[name]
            value = [_typed(inner, row) for row in value] if is_list else _typed(inner, value)
        values[name] = value
    return cls(**values)


def _json_types(annotation: Any) -> tuple[type, ...]:
    """The JSON value types a field's annotation admits (``Number`` admits ints; ``X | None`` admits null)."""
    args = typing.get_args(annotation)
    if args and typing.get_origin(annotation) in (types.UnionType, typing.Union):
        return tuple(t for arg in args for t in _json_types(arg))
    origin = typing.get_origin(annotation) or annotation
    if origin is type(None):
        return (type(None),)
    if dataclasses.is_dataclass(origin):
        return (dict,)
    return (int, float) if origin is float else (origin,)


@functools.cache  # type hints are read once per dataclass, not once per curve row
def _schema(cls: type) -> dict[str, tuple[type, ...]]:
    return {name: _json_types(kind) for name, kind in typing.get_type_hints(cls).items()}


@functools.cache
def _nested(cls: type) -> dict[str, tuple[type, bool]]:
    """Fields holding a dataclass (or a list of one): name → (dataclass, is_list)."""
    out = {}
    for name, kind in typing.get_type_hints(cls).items():
        args = typing.get_args(kind)
        if dataclasses.is_dataclass(kind):
            out[name] = (kind, False)
        elif typing.get_origin(kind) is list and args and dataclasses.is_dataclass(args[0]):
            out[name] = (args[0], True)
    return out


SCHEMA = _schema(Record)  # field → admitted JSON types, derived from :class:`Record`


def validate_record(record: Any) -> list[str]:
    """Return the reasons ``record`` breaks the schema (an empty list when it is valid)."""
    if not isinstance(record, dict):
        return [f"a record is a JSON object, got {type(record).__name__}"]
    problems = _validate(record, Record, "")
    version = record.get("schema_version")
    if isinstance(version, int) and version != SCHEMA_VERSION:
        problems.append(f"schema_version {version} is not {SCHEMA_VERSION}")
    if isinstance(record.get("status"), str) and record["status"] not in STATUSES:
        problems.append(f"status {record['status']!r} is not one of {', '.join(STATUSES)}")
    return problems


def _validate(data: dict, cls: type, prefix: str) -> list[str]:
    problems = _check(data, _schema(cls), prefix)
    for name, (inner, is_list) in _nested(cls).items():
        value = data.get(name)
        if is_list and isinstance(value, list):
            for i, row in enumerate(value):
                if isinstance(row, dict):
                    problems += _validate(row, inner, f"{prefix}{name}[{i}].")
                else:
                    problems.append(f"{prefix}{name}[{i}] is not an object")
        elif not is_list and isinstance(value, dict):
            problems += _validate(value, inner, f"{prefix}{name}.")
    return problems


def _check(data: dict, schema: dict[str, tuple[type, ...]], prefix: str) -> list[str]:
    problems = [f"unknown field {prefix}{key}" for key in data if key not in schema]
    for key, kinds in schema.items():
        value = data.get(key)
        if key not in data:
            problems.append(f"missing field {prefix}{key}")
        elif isinstance(value, bool) and bool not in kinds:
            problems.append(f"field {prefix}{key} is a bool")
        elif not isinstance(value, kinds):
            problems.append(f"field {prefix}{key} has type {type(value).__name__}")
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(f"field {prefix}{key} is {value} (not a finite number)")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            problems.append(f"field {prefix}{key} is an integer beyond 2**53")
    return problems


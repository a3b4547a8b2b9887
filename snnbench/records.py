"""Run records: one JSON document per run, versioned and validated.

Schema (``schema_version`` 7; older records are upgraded on read by :func:`upgrade_record`). The
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
import hashlib
import json
import math
import os
import platform
import socket
import subprocess
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snnbench.files import atomic_write_bytes

SCHEMA_VERSION = 7
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

    def as_dict(self) -> dict[str, Any]:
        """The JSON document (field order as declared)."""
        return dataclasses.asdict(self)


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
    problems = []
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


def upgrade_record(record: dict, path: Path | None = None) -> dict:
    """Bring a record to the current schema, one version step at a time (like a storage migration); a
    no-op for a current record. Each step is written out below. ``config_hash`` names the config that
    ran; it was re-derived once, in schema 5 (the hash rule that keeps it stable as fields are added)."""
    if not isinstance(record, dict):
        return record
    while isinstance(record.get("schema_version"), int) and record["schema_version"] in _UPGRADES:
        record = _UPGRADES[record["schema_version"]](record)
    return record


def _upgrade_1_to_2(record: dict) -> dict:
    """``results.max_test_acc``/``max_test_epoch`` from the curves; ``execution`` from what can be known
    (the backend ``auto`` resolved for the record's device, one parameter group); ``metrics`` and
    ``distributed`` defaults; ``cost.median_ms_per_step``/``total_train_time_s`` filled; the absolute
    ``checkpoint`` path becomes ``checkpoints/<name>`` relative to the record (where the engine writes
    it); the TSSL-BP option ``weight_scale`` (applied to every synapse in version 1) becomes
    ``weight_scale_conv`` and ``weight_scale_dense``."""
    out = dict(record)
    curves = [row for row in out.get("curves") or [] if isinstance(row, dict)]
    tests = [row.get("test_acc") for row in curves if isinstance(row.get("test_acc"), (int, float))]
    results = dict(out.get("results") or {})
    results.setdefault("max_test_acc", max(tests) if tests else None)
    results.setdefault("max_test_epoch", tests.index(max(tests)) + 1 if tests else None)
    out["results"] = results
    cost = dict(out.get("cost") or {})
    cost.setdefault("median_ms_per_step", cost.get("ms_per_step"))
    cost.setdefault("total_train_time_s", cost.get("train_time_s", 0.0))
    out["cost"] = cost
    config = dict(out.get("config") or {})
    options = dict(config.get("options") or {})
    if out.get("method") == "tsslbp" and "weight_scale" in options:
        scale = options.pop("weight_scale")
        options["weight_scale_conv"] = options["weight_scale_dense"] = scale
    config["options"] = options
    out["config"] = config
    device = str((out.get("environment") or {}).get("device") or "cpu")
    backend = options.get("backend", "auto")
    resolved = ("triton" if device.startswith("cuda") else "torch") if backend == "auto" else backend
    out.setdefault("execution", {"backends": [resolved] if "backend" in options else [],
                                 "param_groups": [{"name": "all", "lr_scale": 1.0,
                                                   "params": cost.get("params", 0)}],
                                 "shared_device": False})
    out.setdefault("metrics", {})
    out.setdefault("distributed", {"world_size": 1, "backend": None})
    checkpoint = out.get("checkpoint")
    out["checkpoint"] = f"checkpoints/{Path(checkpoint).name}" if isinstance(checkpoint, str) and checkpoint else ""
    out["schema_version"] = 2
    return out


LIF_RESET_NAMES = {"hard": "zero", "soft": "subtract"}  # schema 2's LIF names → the one reset vocabulary


def _upgrade_2_to_3(record: dict) -> dict:
    """``command`` (the command line that made the run; null when not known) and ``execution.method`` (what
    the rule prepared; empty before) enter the schema; the LIF
    option ``reset`` of STBP and TET takes the suite's one vocabulary (``hard`` → ``zero``, ``soft`` →
    ``subtract``), so an upgraded record groups with the runs made since."""
    out = dict(record)
    out.setdefault("command", None)
    out["execution"] = {**(out.get("execution") or {}), "method": (out.get("execution") or {}).get("method", {})}
    config = dict(out.get("config") or {})
    options = dict(config.get("options") or {})
    if options.get("reset") in LIF_RESET_NAMES and out.get("method") != "tsslbp":
        options["reset"] = LIF_RESET_NAMES[options["reset"]]
    config["options"] = options
    out["config"] = config
    out["schema_version"] = 3
    return out


def _upgrade_3_to_4(record: dict) -> dict:
    """``time_scaling`` (test accuracy at other evaluation T, from ``snnbench eval --steps``) enters the
    schema, empty for an older record."""
    return {**record, "time_scaling": record.get("time_scaling", []), "schema_version": 4}


def _upgrade_4_to_5(record: dict) -> dict:
    """``cost.feed_ratio`` enters the schema (null for an older record); ``config_hash`` under the hash rule
    of schema 5: the config completed with the fields added since
    the record (at the values it ran with, :data:`snnbench.config.LATE_FIELDS`) and hashed without the
    late fields at those values, so a re-run from the record has the same hash and later fields never
    change it again. The hash the run was made with stays in ``tags.config_hash_v4``. A record whose
    method this install lacks, or whose config no longer validates, keeps its hash."""
    from snnbench.config import ConfigError, record_config
    from snnbench.registry import UnknownNameError

    out = {**record, "schema_version": 5, "cost": {"feed_ratio": None, **(record.get("cost") or {})}}
    try:
        new = record_config(record).hash()
    except (UnknownNameError, ConfigError, KeyError, TypeError):
        return out
    if new != record.get("config_hash"):
        out["tags"] = {**(record.get("tags") or {}), "config_hash_v4": record.get("config_hash")}
        out["config_hash"] = new
    return out


def _upgrade_5_to_6(record: dict) -> dict:
    """``execution.cuda_graph`` enters the schema: every older record's steps ran eagerly."""
    execution = {"cuda_graph": "off: before schema 6", **(record.get("execution") or {})}
    return {**record, "schema_version": 6, "execution": execution}


def _upgrade_6_to_7(record: dict) -> dict:
    """``budget`` enters the schema (compute budgets, :mod:`snnbench.budget`): null for an older record,
    which ran for its epochs."""
    return {**record, "budget": record.get("budget"), "schema_version": 7}


_UPGRADES = {1: _upgrade_1_to_2, 2: _upgrade_2_to_3, 3: _upgrade_3_to_4, 4: _upgrade_4_to_5, 5: _upgrade_5_to_6,
             6: _upgrade_6_to_7}


def record_checkpoint(record: dict, path: Path) -> Path | None:
    """The checkpoint file of ``record`` read from ``path`` (its path is relative to the record's folder; one
    that leads outside that folder, ``../../etc/passwd``, is no checkpoint: None)."""
    checkpoint = record.get("checkpoint")
    if not isinstance(checkpoint, str) or not checkpoint:
        return None
    folder = Path(path).parent.resolve()
    target = (folder / checkpoint).resolve()
    if not target.is_relative_to(folder):  # a record names only a checkpoint inside its own folder
        return None
    return target


def write_record(record: dict, directory: Path) -> Path:
    """Validate and write ``record`` atomically as ``<directory>/<run_id>.json``; never replaces an
    existing record (exclusive create: concurrent runs never lose one another's records)."""
    problems = validate_record(record)
    if problems:
        raise ValueError("refusing to write an invalid record: " + "; ".join(problems))
    path = Path(directory) / f"{record['run_id']}.json"
    atomic_write_bytes(path, record_text(record).encode(), exclusive=True)
    return path


def read_record(path: Path) -> dict:
    """Read a record and upgrade it to the current schema (in memory; ``snnbench records upgrade`` rewrites
    the file)."""
    return upgrade_record(json.loads(Path(path).read_text()), path)


def record_text(record: dict) -> str:
    """The one on-disk form of a record (what :func:`write_record` and :func:`upgrade_file` write)."""
    return json.dumps(record, indent=1, sort_keys=False, allow_nan=False) + "\n"


def upgrade_file(path: Path, write: bool = True) -> int | None:
    """Rewrite the record at ``path`` in the current schema (atomically, validated first); returns the
    schema version it had, or None where it was current already. ``write=False`` only says so."""
    raw = json.loads(Path(path).read_text())
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if not isinstance(version, int) or version not in _UPGRADES:
        if version != SCHEMA_VERSION:
            raise ValueError(f"{path}: schema_version {version!r} is not one this snnbench upgrades "
                             f"(1..{SCHEMA_VERSION})")
        return None
    if write:
        record = upgrade_record(raw, Path(path))
        problems = validate_record(record)
        if problems:
            raise ValueError(f"{path}: the upgraded record is invalid: " + "; ".join(problems[:3]))
        atomic_write_bytes(Path(path), record_text(record).encode())
    return version


def environment(device: str) -> dict[str, Any]:
    """The machine and software a run used."""
    import numpy
    import torch

    env: dict[str, Any] = {
        "python": sys.version.split()[0], "torch": str(torch.__version__), "numpy": numpy.__version__,
        "platform": platform.platform(), "hostname": socket.gethostname(), "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": device,
        "cuda": torch.version.cuda, "gpu": None, "triton": None,
    }
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError:
        pass
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    from snnbench import __version__

    env["snnbench"] = __version__
    env.update(_git_state())
    env["source_sha256"] = source_hash()
    return env


def source_hash() -> str:
    """SHA-256 (16 hex digits) of the installed package's Python sources (``snnbench`` with its
    ``methods`` and ``datasets`` subpackages, wherever they live): identifies the code that ran even
    where git is absent or its metadata is stale (a copied working tree or a wheel install)."""
    import snnbench
    import snnbench.datasets
    import snnbench.kernels
    import snnbench.methods

    digest = hashlib.sha256()
    for package in (snnbench, snnbench.kernels, snnbench.methods, snnbench.datasets):
        folder = Path(package.__file__).resolve().parent
        for path in sorted(folder.glob("*.py")):
            digest.update(f"{package.__name__}/{path.name}".encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_state() -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip() != ""
        return {"git_commit": commit, "git_dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}

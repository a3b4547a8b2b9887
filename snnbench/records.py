"""Run records: one JSON document per run, versioned and validated.

Schema (``schema_version`` 1). Top-level fields and their types:

- ``schema_version`` int; ``run_id`` str; ``status`` "completed" | "stopped" | "failed";
  ``stop_reason`` str (empty unless stopped);
- ``method``, ``dataset`` (registry names), ``dataset_info`` (variant, exactness, file md5s, encoding,
  split sizes), ``arch`` (as given), ``arch_resolved`` (the parsed plan), ``steps`` (T), ``epochs``
  (epochs run), ``seed``;
- ``config`` (the fully resolved :class:`~snnbench.config.RunConfig`), ``config_hash``;
- ``curves``: one entry per epoch with ``epoch``, ``train_loss``, ``train_acc``, ``val_acc``
  (null without a validation split), ``test_acc``, ``epoch_time_s``, ``lr``;
- ``results``: ``best_val_epoch`` (1-based), ``test_acc_at_best_val``, ``test_acc_last``,
  ``best_val_acc`` (accuracies in %);
- ``cost``: ``train_time_s`` (sum of training epochs' wall time, this run and any resumed part),
  ``eval_time_s``, ``ms_per_step`` (mean over training steps; CUDA events on a GPU),
  ``samples_per_s``, ``peak_gpu_mem_mib`` (null on the CPU), ``params``;
- ``firing``: per spiking layer (test set, final model): ``neurons``, ``mean_rate``,
  ``silent_fraction``, ``spikes_per_sample``, ``share_zero``/``share_once``/``share_more``,
  ``count_histogram``;
- ``lineage``: list of earlier runs this one started from (time-inheritance training);
- ``tags``: free-form dict (e.g. Optuna study and trial);
- ``started_at``, ``finished_at`` (ISO 8601 UTC); ``environment`` (git commit and dirty flag,
  python, torch, triton, numpy, CUDA, GPU name, CPU, platform, hostname, snnbench version).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from snnbench.files import atomic_write_bytes

SCHEMA_VERSION = 1
_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
SCHEMA: dict[str, Any] = {
    "schema_version": int, "run_id": str, "status": str, "stop_reason": str, "method": str, "dataset": str,
    "dataset_info": dict, "arch": str, "arch_resolved": str, "steps": int, "epochs": int, "seed": int,
    "config": dict, "config_hash": str, "curves": list, "results": dict, "cost": dict, "firing": dict,
    "lineage": list, "tags": dict, "started_at": str, "finished_at": str, "environment": dict,
}
RESULTS_SCHEMA = {"best_val_epoch": (int, type(None)), "test_acc_at_best_val": _OPT_NUM,
                  "test_acc_last": _OPT_NUM, "best_val_acc": _OPT_NUM}
COST_SCHEMA = {"train_time_s": _NUM, "eval_time_s": _NUM, "ms_per_step": _OPT_NUM, "samples_per_s": _OPT_NUM,
               "peak_gpu_mem_mib": _OPT_NUM, "params": int}
CURVE_SCHEMA = {"epoch": int, "train_loss": _NUM, "train_acc": _NUM, "val_acc": _OPT_NUM, "test_acc": _NUM,
                "epoch_time_s": _NUM, "lr": _NUM}
STATUSES = ("completed", "stopped", "failed")


def validate_record(record: Any) -> list[str]:
    """Return the reasons ``record`` breaks the schema (an empty list when it is valid)."""
    if not isinstance(record, dict):
        return [f"a record is a JSON object, got {type(record).__name__}"]
    problems = _check(record, SCHEMA, "")
    if record.get("schema_version") not in (None, SCHEMA_VERSION) and isinstance(record.get("schema_version"), int):
        problems.append(f"schema_version {record['schema_version']} is not {SCHEMA_VERSION}")
    if isinstance(record.get("status"), str) and record["status"] not in STATUSES:
        problems.append(f"status {record['status']!r} is not one of {', '.join(STATUSES)}")
    if isinstance(record.get("results"), dict):
        problems += _check(record["results"], RESULTS_SCHEMA, "results.")
    if isinstance(record.get("cost"), dict):
        problems += _check(record["cost"], COST_SCHEMA, "cost.")
    for i, row in enumerate(record.get("curves") or []):
        if isinstance(row, dict):
            problems += _check(row, CURVE_SCHEMA, f"curves[{i}].")
        else:
            problems.append(f"curves[{i}] is not an object")
    return problems


def _check(data: dict, schema: dict, prefix: str) -> list[str]:
    problems = []
    for key, kind in schema.items():
        if key not in data:
            problems.append(f"missing field {prefix}{key}")
        elif isinstance(data[key], bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            problems.append(f"field {prefix}{key} is a bool")
        elif not isinstance(data[key], kind):
            problems.append(f"field {prefix}{key} has type {type(data[key]).__name__}")
    return problems


def write_record(record: dict, directory: Path) -> Path:
    """Validate and write ``record`` atomically as ``<directory>/<run_id>.json``."""
    problems = validate_record(record)
    if problems:
        raise ValueError("refusing to write an invalid record: " + "; ".join(problems))
    path = Path(directory) / f"{record['run_id']}.json"
    atomic_write_bytes(path, (json.dumps(record, indent=1, sort_keys=False) + "\n").encode())
    return path


def read_record(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def environment(device: str) -> dict[str, Any]:
    """The machine and software a run used."""
    import numpy
    import torch

    env: dict[str, Any] = {
        "python": sys.version.split()[0], "torch": torch.__version__, "numpy": numpy.__version__,
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
    """SHA-256 (16 hex digits) of the package's Python sources: identifies the code that ran even
    where git is absent or its metadata is stale (a copied working tree)."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for folder in ("snnbench", "methods", "datasets"):
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
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

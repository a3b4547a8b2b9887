"""Run records, the provenance: the machine, software and source a run used."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any


def environment(device: str) -> dict[str, Any]:
    """The machine and software a run used."""
    import numpy
    import torch

    env: dict[str, Any] = {
        "python": sys.version.split()[0], "torch": str(torch.__version__), "numpy": numpy.__version__,
        "platform": platform.platform(), "hostname": socket.gethostname(), "cpu": _cpu_name(),
        "cpu_class": cpu_class(),
        # the SIMD level of PyTorch's CPU kernels (AVX512, AVX2, ...): float32 results round differently across
        # levels, so a record re-runs bit for bit only on a CPU of the same level
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
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
    """SHA-256 (16 hex digits) of :func:`source_files`: identifies the code that ran even where git is absent
    or its metadata is stale (a copied working tree or a wheel install)."""
    files = source_files()
    digest = hashlib.sha256()
    for key in sorted(files):
        digest.update(key.encode() + b"\0" + files[key].read_bytes())
    return digest.hexdigest()[:16]


def source_files() -> dict[str, Path]:
    """The installed package's Python sources by package-relative name: ``snnbench`` with every subpackage,
    and ``methods`` and ``datasets`` with theirs, wherever they live."""
    import importlib.util

    roots = {}
    for name in ("snnbench", "snnbench.methods", "snnbench.datasets"):  # found, not imported (no torch)
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        roots[name] = Path(spec.origin).resolve().parent
    files: dict[str, Path] = {}
    for name, folder in roots.items():
        for path in folder.rglob("*.py"):
            inside_other = any(path.is_relative_to(roots[other]) for other in roots if other != name
                               and roots[other].is_relative_to(folder))
            if not inside_other:  # in a wheel, methods/ lies inside snnbench/: counted once, under its own name
                files[f"{name}/{path.relative_to(folder).as_posix()}"] = path
    return files


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_class() -> str:
    """The CPU's name with its family and model (``AMD EPYC, family 25 model 17``): what a CPU-time budget is
    measured on. Virtual machines often report one brand for several generations (``AMD EPYC`` for Zen 2 and
    Zen 4, twice apart per CPU-second), so the name alone does not identify the class."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break  # the first processor's block
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        return f"{name}, family {fields['cpu family']} model {fields['model']}"
    return name


def _git_state() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]  # snnbench/records/provenance.py → the checkout
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip() != ""
        return {"git_commit": commit, "git_dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}

"""Options shared by the subcommands that train (``run`` and ``tune``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

DEFAULT_METHOD = "stbp"
DEFAULT_DATASET = "digits"
RUN_FLAGS = ("recipe", "arch", "steps", "epochs", "batch_size", "lr", "seed", "max_train_samples",
             "max_test_samples", "init_from")


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The method, dataset, recipe overrides, device and data folders of a training command."""
    p.add_argument("--method", default=DEFAULT_METHOD, help=f"learning rule (default {DEFAULT_METHOD})")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help=f"dataset (default {DEFAULT_DATASET})")
    p.add_argument("--recipe", help="another published recipe for this dataset (see `snnbench list recipes`)")
    p.add_argument("--arch", help="architecture: a named network or notation like 15C5-P2-40C5-P2-300")
    p.add_argument("--steps", type=int, help="number of time steps T")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--data-dir", help="cache folder (default $SNNBENCH_DATA or ~/.cache/snnbench)")
    p.add_argument("--mirror", help="read-only local mirror folder(s) (default $SNNBENCH_MIRROR)")
    p.add_argument("--max-train-samples", type=int, dest="max_train_samples")
    p.add_argument("--max-test-samples", type=int, dest="max_test_samples")
    p.add_argument("--init-from", dest="init_from", help="start from a checkpoint (.pt) or run record (.json)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any recipe field")
    p.add_argument("--out", default=os.environ.get("SNNBENCH_OUT", "leaderboards/runs"), help="record folder")


def run_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The config flags given on the command line (None where not given)."""
    return {k: getattr(args, k, None) for k in RUN_FLAGS}


def runtime_of(args: argparse.Namespace, **extra: Any) -> Any:
    """The run-time options (device, data folders, record folder) :func:`add_run_options` parsed."""
    from pathlib import Path

    from snnbench.engine import RuntimeOptions

    return RuntimeOptions(device=args.device, data_dir=args.data_dir, mirror=args.mirror, out=Path(args.out), **extra)


def split_list(text: str | None) -> list[str]:
    """``"a, b,,c"`` → ``["a", "b", "c"]``."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]

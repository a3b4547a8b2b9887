"""``snnbench eval``: evaluate a trained run at other numbers of time steps (no retraining)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from snnbench.commands.common import add_data_options, add_device_option, split_list
from snnbench.ui import esc, table

HELP = "evaluate a trained run at other numbers of time steps T (stored in its record)"
EXAMPLES = """\
  snnbench eval leaderboards/runs/RUN.json --steps 1,2,4,8"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("record", help="a run record (.json) whose checkpoint is present")
    p.add_argument("--steps", required=True, help="comma-separated T values, e.g. 1,2,4,8")
    add_device_option(p)
    add_data_options(p)
    p.add_argument("--no-write", action="store_true", help="print only; leave the record as it is")


def run(args: argparse.Namespace, console: Console) -> int:
    from snnbench.config import ConfigError
    from snnbench.engine import RuntimeOptions
    from snnbench.evaluation import evaluate_at_steps

    try:
        steps = [int(v) for v in split_list(args.steps)]
    except ValueError:
        raise ConfigError(f"--steps takes comma-separated integers, got {args.steps!r}") from None
    runtime = RuntimeOptions(device=args.device, data_dir=args.data_dir, mirror=args.mirror)
    curve = evaluate_at_steps(Path(args.record), steps, runtime, write=not args.no_write)
    view = table(f"{Path(args.record).name}: test accuracy by evaluation T", ("T", "test acc"))
    for row in curve:
        view.add_row(str(row["steps"]), f"{row['test_acc']:.2f}%")
    console.print(view)
    if not args.no_write:
        console.print(f"stored in {esc(args.record)} (time_scaling)")
    return 0

"""``snnbench run``: train one method on one dataset and write a run record."""

from __future__ import annotations

import argparse
import shlex

from rich.console import Console

from snnbench.commands.common import add_run_options, run_flags, runtime_of
from snnbench.config import parse_sets, resolve_config
from snnbench.registry import create_dataset, create_method
from snnbench.ui import RichProgress, esc, run_summary

HELP = "train one method on one dataset and write a run record"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_options(p)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint of this config")


def run(args: argparse.Namespace, console: Console) -> int:
    from snnbench.engine import train

    method, dataset = create_method(args.method), create_dataset(args.dataset)
    cfg = resolve_config(method, dataset, run_flags(args), parse_sets(args.set))
    runtime = runtime_of(args, resume=args.resume, command=shlex.join(["snnbench", *args.argv]))
    console.print(f"[bold]{esc(cfg.method)}[/] on [bold]{esc(cfg.dataset)}[/]: arch {esc(cfg.arch)}, T={cfg.steps}, "
                  f"{cfg.epochs} epochs, batch {cfg.batch_size}, lr {cfg.lr:g}, seed {cfg.seed} "
                  f"(config {cfg.hash()})")
    record, path = train(cfg, runtime, progress=RichProgress(console))
    console.print(run_summary(record))
    console.print(f"record: {esc(str(path))}")
    return 0

"""``snnbench data``: check that a dataset's files are present and intact, or fetch them."""

from __future__ import annotations

import argparse

from rich.console import Console

from snnbench.commands.common import add_data_options
from snnbench.files import DataContext, DataFileError, resolve
from snnbench.registry import create_dataset
from snnbench.ui import esc

HELP = "check or fetch dataset files"
EXAMPLES = """\
  snnbench data list
  snnbench data check mnist
  snnbench data fetch fashion-mnist --data-dir /scratch/snnbench"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["check", "fetch"])
    p.add_argument("dataset")
    add_data_options(p)


def run(args: argparse.Namespace, console: Console) -> int:
    dataset = create_dataset(args.dataset)
    ctx = DataContext.from_options(args.data_dir, args.mirror, download=args.action == "fetch")
    if not dataset.files:
        console.print(f"{esc(dataset.name)}: bundled with its library, nothing to fetch")
        return 0
    failed = 0
    for file in dataset.files:
        try:
            path = resolve(file, ctx, dataset.name)
            console.print(f"[green]ok[/] {esc(file.name)} ({file.md5}) at {esc(str(path))}")
        except DataFileError as err:
            failed += 1
            console.print(f"[red]missing[/] {esc(str(err))}")
    return 1 if failed else 0

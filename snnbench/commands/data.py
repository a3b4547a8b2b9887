"""``snnbench data``: list every dataset's files and where they are, check them (md5), or fetch them."""

from __future__ import annotations

import argparse

from rich.console import Console

from snnbench.commands.common import add_data_options, registry_names
from snnbench.config import ConfigError
from snnbench.files import DataContext, DataFileError, candidates, md5sum, resolve
from snnbench.registry import create_dataset, list_datasets
from snnbench.ui import esc, table

ACTIONS = ("list", "check", "fetch")

HELP = "list, check or fetch dataset files"
EXAMPLES = """\
  snnbench data list
  snnbench data check mnist
  snnbench data fetch fashion-mnist --data-dir /scratch/snnbench"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=ACTIONS,
                   help="list: every dataset's files and where each was found; check: md5-verify a dataset's "
                        "files; fetch: download what is missing")
    p.add_argument("dataset", nargs="?", default="", help="the dataset (check and fetch; list: all of them)"
                   ).valid_names = registry_names("dataset")
    p.add_argument("--verify", action="store_true", help="list: also check each found file's md5 (slow)")
    add_data_options(p)


def run(args: argparse.Namespace, console: Console) -> int:
    if args.action == "list":
        return _list(args, console)
    if not args.dataset:
        raise ConfigError(f"snnbench data {args.action} needs a dataset; valid datasets: "
                          f"{', '.join(list_datasets())}")
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


def _list(args: argparse.Namespace, console: Console) -> int:
    """One table: each dataset's files, their size and where each was found (the first place that has it:
    cache, a mirror, or missing; with ``--verify`` a copy whose md5 differs does not count)."""
    ctx = DataContext.from_options(args.data_dir, args.mirror, download=False)
    out = table(f"datasets (cache {ctx.cache_dir}; mirrors: {', '.join(map(str, ctx.mirrors)) or 'none'})",
                ("dataset", "file", "size", "found", "where"))
    for name in list_datasets():
        dataset = create_dataset(name)
        if not dataset.files:
            out.add_row(name, "-", "-", "bundled", "installed with its library")
        for file in dataset.files:
            found = [(kind, path) for kind, path in candidates(file, ctx) if path.is_file()]
            if args.verify:
                found = [(kind, path) for kind, path in found if md5sum(path) == file.md5]
            if found:
                kind, path = found[0]
                out.add_row(name, esc(file.name), _size(path.stat().st_size), kind, esc(str(path)))
            else:
                out.add_row(name, esc(file.name), "-", "[red]missing[/]",
                            esc(f"snnbench data fetch {name}" if file.url else "no public URL: a mirror only"))
    console.print(out)
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)

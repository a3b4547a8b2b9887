"""``snnbench leaderboard``: aggregate run records into the leaderboard (table, files, plots)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from snnbench.ui import esc

HELP = "aggregate run records into the leaderboard (table, files, plots)"
EXAMPLES = """\
  snnbench leaderboard                            # table, and ./leaderboard/: LEADERBOARD.md, .html, csv, json
  snnbench leaderboard --out leaderboards         # regenerate the repository's committed board
  snnbench leaderboard --dataset mnist --format csv --no-files"""
FORMATS = ("md", "html", "csv", "json")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", default="leaderboards/runs", help="folder of run records (searched recursively)")
    p.add_argument("--dataset", default=None, help="only this dataset (a variant is its own dataset)")
    p.add_argument("--format", default=None, choices=FORMATS, help="print this format instead of the table")
    p.add_argument("--out", default="leaderboard",
                   help="folder for LEADERBOARD.md, leaderboard.html, csv, json and plots/ (default ./leaderboard; the "
                        "repository's committed board is regenerated with --out leaderboards, or nox -s board)")
    p.add_argument("--no-files", action="store_true", help="only print; write nothing")
    from snnbench.leaderboard.columns import COLUMNS, CONSOLE_COLUMNS  # the standard library only

    p.add_argument("--columns", default=",".join(CONSOLE_COLUMNS),
                   help=f"comma-separated console columns (of: {', '.join(COLUMNS)})")


def run(args: argparse.Namespace, console: Console) -> int:
    from snnbench import leaderboard as lb

    errors = Console(stderr=True)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    unknown = [c for c in columns if c not in lb.COLUMNS]
    if unknown or not columns:
        from snnbench.config import ConfigError

        raise ConfigError(f"unknown --columns {', '.join(unknown) or '(none)'}; valid: {', '.join(lb.COLUMNS)}")
    records, skipped = lb.load_records(Path(args.runs))
    rows = lb.build_rows(records, args.dataset)
    unfinished: dict[str, int] = {}  # stopped (pruned trials, interruptions) and failed runs: counted, not listed
    for path, why in skipped:
        status = lb.unranked_status(why)
        if status is not None:
            unfinished[status] = unfinished.get(status, 0) + 1
        else:
            errors.print(f"[yellow]left out[/] {esc(str(path))}: {esc(why)}", highlight=False)
    if unfinished:
        counts = ", ".join(f"{n} {esc(status)}" for status, n in sorted(unfinished.items()))
        errors.print(f"[dim]not ranked: {counts} (only completed runs are ranked; LEADERBOARD.md lists them)[/]",
                     highlight=False)
    if not rows:
        where = f" for {args.dataset}" if args.dataset else ""
        console.print(esc(f"no completed run records{where} under {args.runs}"))
        return 1
    if args.format:
        text = {"md": lambda: lb.to_markdown(rows, skipped), "csv": lambda: lb.to_csv(rows),
                "json": lambda: lb.to_json(rows, skipped), "html": lambda: lb.to_html(rows, skipped)}
        print(text[args.format](), end="")
    else:
        from snnbench.leaderboard.console import console_tables

        for view in console_tables(rows, len(records), columns):
            console.print(view)  # folds to the terminal's width
    if not args.no_files:
        files = lb.write_leaderboard(rows, records, skipped, Path(args.out))
        if not any((Path(args.out) / "plots").glob("*.png")):
            errors.print("[yellow]no plots[/]: matplotlib is not installed")
        errors.print("wrote " + esc(", ".join(str(p) for p in files.values())), highlight=False)
    return 0

"""``snnbench suite``: run a declared suite end to end (resumable, many workers), show its status,
report it as the leaderboard restricted to its records (see :mod:`snnbench.suite`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from snnbench.commands.common import add_data_options, add_device_option, add_out_option, add_threads_option
from snnbench.files import DataContext
from snnbench.ui import esc, table

HELP = "run, inspect or report a benchmark suite (suites/*.toml)"
EXAMPLES = """\
  snnbench suite list
  snnbench suite run smoke
  snnbench suite status smoke
  snnbench suite report smoke"""
ACTIONS = ("run", "status", "report", "list")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=ACTIONS, help="run the cells, show their status, report them, or list suites")
    p.add_argument("suite", nargs="?", default="", help="a shipped suite name (see `snnbench suite list`) or a file")
    p.add_argument("--jobs", type=int, default=1, help="workers on this machine (>1: their times are not used)")
    p.add_argument("--storage", default="", help="the cell queue: an Optuna storage URL (postgresql+psycopg://..., "
                                                 "mysql://..., sqlite:///...) or journal:PATH (default: SQLite "
                                                 "suites.db in --out)")
    add_out_option(p)
    add_device_option(p)
    add_threads_option(p)
    add_data_options(p)
    p.add_argument("--shared-device", action="store_true", help=argparse.SUPPRESS)  # set for --jobs workers


def run(args: argparse.Namespace, console: Console) -> int:
    from snnbench import suite as suites
    from snnbench.config import ConfigError

    if args.action == "list":
        for name in suites.suite_names():
            s = suites.load_suite(name)
            console.print(f"[bold]{esc(name)}[/] ({len(s.cells)} cells): {esc(s.description)}")
        return 0
    if not args.suite:
        raise ConfigError(f"snnbench suite {args.action} needs a suite: one of {', '.join(suites.suite_names())} "
                          "or a .toml file")
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    suite = suites.load_suite(args.suite)  # every cell resolves here: bad input exits 2 before any cell
    out = Path(args.out)
    ctx = DataContext.from_options(args.data_dir, args.mirror)
    if args.action == "status":
        return _status(suite, out, args.storage, console, ctx)
    if args.action == "report":
        return _report(suite, out, console)
    suites.open_queue_storage(args.storage, out)  # an unreachable storage exits 2 before any cell
    before = suites.cell_status(suite, out, None, ctx)
    todo = sum(state not in ("done", "no data") for state in before.values())
    console.print(f"suite [bold]{esc(suite.name)}[/]: {len(suite.cells)} cells, {todo} to run, {args.jobs} worker(s)")
    if args.jobs == 1:
        runtime = {"device": args.device, "data_dir": args.data_dir, "mirror": args.mirror, "threads": args.threads,
                   "tags": {"shared_device": True} if args.shared_device else {}}
        suites.work(suite, out, args.storage, runtime,
                    on_cell=lambda key, path: console.print(f"done {esc(key)}: {esc(str(path))}" if path else
                                                            f"skipped {esc(key)}: no data here (optional cell)"))
    else:
        codes = suites.run_workers(suite, args.suite, args.jobs, out, args.storage, device=args.device,
                                   threads=args.threads, data_dir=args.data_dir, mirror=args.mirror)
        if any(codes):
            console.print(f"[red]{sum(c != 0 for c in codes)} worker(s) failed[/]")
            return 1
    after = suites.cell_status(suite, out, None, ctx)
    missing = [k for k, v in after.items() if v not in ("done", "no data")]
    absent = [k for k, v in after.items() if v == "no data"]
    console.print(f"{list(after.values()).count('done')}/{len(after)} cells done"
                  + (f"; not done: {', '.join(missing)}" if missing else "")
                  + (f"; {len(absent)} optional cell(s) without their data (snnbench data list)" if absent else ""))
    return 0 if not missing else 1


def _status(suite, out: Path, storage: str, console: Console, ctx: DataContext) -> int:
    from snnbench import suite as suites

    states = suites.cell_status(suite, out, storage, ctx)
    view = table(f"suite {suite.name} ({suite.source})", ("cell", "status"))
    for key, state in states.items():
        colour = {"done": "green", "running": "cyan", "failed": "red"}.get(state, "yellow")
        view.add_row(esc(key), f"[{colour}]{state}[/]")
    console.print(view)
    counts = {s: list(states.values()).count(s) for s in ("done", "running", "failed", "missing", "no data")}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0


def _report(suite, out: Path, console: Console) -> int:
    from snnbench import leaderboard as lb
    from snnbench import suite as suites

    records, _ = lb.load_records(out)
    done = suites.completed_records(out, records)  # the records read once
    wanted = {done[c.config.hash()] for c in suite.cells if c.config.hash() in done}
    chosen = [(path, record) for path, record in records if path in wanted]
    if not chosen:
        console.print(esc(f"no completed records of suite {suite.name} under {out}"))
        return 1
    rows = lb.build_rows(chosen, thresholds=suite.thresholds or None)
    print(lb.to_markdown(rows, []), end="")
    print("\n" + lb.equal_time_table([record for _, record in chosen]), end="")
    scaling = lb.time_scaling_table([record for _, record in chosen])
    if scaling:
        print("\n" + scaling, end="")
    return 0

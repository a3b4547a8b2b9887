"""``snnbench records upgrade``: rewrite run records in the current schema, once, on disk (Optuna's model
of an explicit storage upgrade)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from snnbench.ui import esc

HELP = "rewrite run records in the current schema (snnbench records upgrade [PATH ...])"
EXAMPLES = """\
  snnbench records upgrade                        # every record under leaderboards/runs
  snnbench records upgrade runs/ --check          # exit 1 if any record is in an older schema"""
ACTIONS = ("upgrade",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=ACTIONS, help="upgrade: rewrite older records in the current schema")
    p.add_argument("paths", nargs="*", default=["leaderboards/runs"],
                   help="record files or folders (searched recursively; default leaderboards/runs)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if any record needs the upgrade")


def record_paths(paths: list[str]) -> list[Path]:
    """The record files named by ``paths`` (folders searched recursively, checkpoints left out)."""
    found = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += [p for p in sorted(path.rglob("*.json")) if "checkpoints" not in p.parts]
        elif path.is_file():
            found.append(path)
        else:
            from snnbench.config import ConfigError

            raise ConfigError(f"{name}: no such record file or folder")
    return found


def run(args: argparse.Namespace, console: Console) -> int:
    from snnbench.records import SCHEMA_VERSION, upgrade_file

    counts: dict[int, int] = {}
    bad = 0
    for path in record_paths(args.paths):
        try:
            version = upgrade_file(path, write=not args.check)
        except (ValueError, OSError) as err:  # JSONDecodeError is a ValueError
            console.print(f"[yellow]left as it is[/] {esc(str(path))}: {esc(str(err)[:200])}", highlight=False)
            bad += 1
            continue
        if version is not None:
            counts[version] = counts.get(version, 0) + 1
    older = sum(counts.values())
    by = ", ".join(f"{n} from schema {v}" for v, n in sorted(counts.items()))
    verb = "need the upgrade" if args.check else "upgraded"
    console.print(esc(f"{older} record(s) {verb} to schema {SCHEMA_VERSION}" + (f" ({by})" if by else "")
                      + (f"; {bad} unreadable" if bad else "")), highlight=False)
    return 1 if (args.check and older) or bad else 0

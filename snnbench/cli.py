"""The ``snnbench`` command line: assembles the subcommands of :mod:`snnbench.commands` and maps
errors to exit codes: 0 success, 1 a failed run (or missing data), 2 bad usage."""

from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console

from snnbench.arch import ArchSyntaxError
from snnbench.commands import COMMANDS
from snnbench.config import ConfigError
from snnbench.files import DataFileError
from snnbench.registry import UnknownNameError
from snnbench.ui import esc

USAGE_ERRORS = (UnknownNameError, ConfigError, ArchSyntaxError)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 on its own errors; keep that, with our message
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from snnbench import __version__

    parser = _Parser(prog="snnbench", description="A fair benchmark of learning rules for spiking networks.",
                     epilog="Start with: snnbench run (STBP on the 8x8 digits, under a minute on a CPU); "
                            "snnbench list; snnbench <command> --help.")
    parser.add_argument("--version", action="version", version=f"snnbench {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, command in COMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=command.HELP, description=command.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``snnbench ARGV`` (default: ``sys.argv[1:]``; no arguments: the help, exit 0); returns the exit code."""
    console, errors = Console(), Console(stderr=True)
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    args.argv = argv
    try:
        return COMMANDS[args.command].run(args, console)
    except USAGE_ERRORS as err:
        errors.print(f"[red]error:[/] {esc(str(err))}", highlight=False)
        return 2
    except DataFileError as err:
        errors.print(f"[red]data error:[/] {esc(str(err))}", highlight=False)
        return 1
    except KeyboardInterrupt:
        errors.print("interrupted; continue with --resume")
        return 1
    except Exception as err:  # a failed run: say what failed, exit 1
        errors.print(f"[red]run failed:[/] {type(err).__name__}: {esc(str(err))}", highlight=False)
        if os.environ.get("SNNBENCH_DEBUG"):
            raise
        return 1


if __name__ == "__main__":
    sys.exit(main())

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
from snnbench.logs import setup_logging
from snnbench.registry import UnknownNameError
from snnbench.ui import esc

USAGE_ERRORS = (UnknownNameError, ConfigError, ArchSyntaxError)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 on its own errors; keep that, with our message
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its valid values (fixed choices, or the registered names) and its
    default, where it has one worth saying; epilogs keep their example lines."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if text == argparse.SUPPRESS:
            return text
        names = getattr(action, "valid_names", None)
        if names is not None:
            text += f" (one of: {', '.join(names())})"
        elif action.choices is not None and "%(choices)" not in text:
            text += " (one of: %(choices)s)"
        default = action.default
        if (action.option_strings and "%(default)" not in text and "default:" not in text
                and default not in (None, False, "", [], argparse.SUPPRESS)):
            text += " (default: %(default)s)"
        return text


def _verbosity_options(parser: argparse.ArgumentParser, default: object) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_const", const=-1, dest="verbosity", default=default,
                       help="print only results and errors (no progress lines)")
    group.add_argument("-v", "--verbose", action="count", dest="verbosity", default=default,
                       help="more log lines (-v: info, including Optuna's; -vv: debug)")


def build_parser() -> argparse.ArgumentParser:
    from snnbench import __version__

    parser = _Parser(prog="snnbench", description="A fair benchmark of learning rules for spiking networks.",
                     formatter_class=HelpFormatter,
                     epilog="Start with: snnbench run (STBP on the 8x8 digits, under a minute on a CPU); "
                            "snnbench list; snnbench <command> --help.")
    parser.add_argument("--version", action="version", version=f"snnbench {__version__}")
    _verbosity_options(parser, 0)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for name, command in COMMANDS.items():
        child = sub.add_parser(name, help=command.HELP, description=command.HELP, formatter_class=HelpFormatter,
                               epilog=f"examples:\n{command.EXAMPLES}")
        command.add_arguments(child)
        _verbosity_options(child, argparse.SUPPRESS)  # after the command too: snnbench run -q
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``snnbench ARGV`` (default: ``sys.argv[1:]``; no arguments: the help, exit 0); returns the exit code."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        parser.print_help()
        return 0
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version (0) and usage errors (2): a code, as for every other path
        return stop.code if isinstance(stop.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    args.argv = argv
    args.parser = parser  # the whole parser, for commands that describe it (completion) without importing cli
    setup_logging(args.verbosity)
    # a log file (SLURM) gets whole lines: no wrapping at 80 columns, no live views (see snnbench.ui)
    terminal = sys.stdout.isatty()
    console = Console(quiet=args.verbosity < 0, soft_wrap=not terminal, emoji=False,
                      width=None if terminal or os.environ.get("COLUMNS") else 200)
    errors = Console(stderr=True, emoji=False)  # user text is printed as it is: ":x:" stays ":x:"
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

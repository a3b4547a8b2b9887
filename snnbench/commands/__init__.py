"""One module per ``snnbench`` subcommand, each a small ``add_arguments(parser)`` + ``run(args, console)``
pair with its ``HELP`` line and ``EXAMPLES`` (the layout of Optuna's CLI). :mod:`snnbench.cli` only assembles them."""

from __future__ import annotations

from snnbench.commands import bench, completion, data, evaluate, leaderboard, listing, records, run, suite, tune

COMMANDS = {"run": run, "tune": tune, "leaderboard": leaderboard, "bench": bench, "list": listing, "data": data,
            "suite": suite, "eval": evaluate, "records": records,
            "completion": completion}

__all__ = ["COMMANDS"]

"""``snnbench run``: train one method on one dataset and write a run record."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from snnbench.commands.common import add_run_options, run_flags, runtime_of
from snnbench.config import ConfigError, parse_sets, resolve_config
from snnbench.registry import create_dataset, create_method
from snnbench.trackers import TRACKERS, Trackers, check_trackers
from snnbench.ui import esc, progress_for, run_summary

HELP = "train one method on one dataset and write a run record"
EXAMPLES = """\
  snnbench run                                   # STBP on the 8x8 digits, under a minute on a CPU
  snnbench run --method tsslbp --dataset mnist --epochs 2
  snnbench run --method tet --set lam=0.1 --print-config
  snnbench run --config exp.toml --seed 1
  snnbench run --from-record leaderboards/runs/RUN.json"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_options(p)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint of this config")
    p.add_argument("--config", help="a TOML file of config fields (and an [options] table), applied after the "
                                    "recipe; flags and --set still win")
    p.add_argument("--from-record", dest="from_record",
                   help="re-run exactly the resolved configuration of this run record (other config flags refused)")
    p.add_argument("--print-config", action="store_true", help="print the resolved configuration and exit")
    p.add_argument("--log", action="append", default=[], choices=TRACKERS,
                   help="also send the config and per-epoch metrics to this tracker (repeatable; an extra: "
                        "pip install 'snnbench[tensorboard]' or 'snnbench[mlflow]')")


def config_file_values(path: str) -> dict[str, Any]:
    """A ``--config`` TOML file as ``--set`` pairs: top-level config fields, ``[options]`` as ``options.KEY``."""
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as err:
        raise ConfigError(f"--config {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"--config {path}: {err}") from None
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError(f"--config {path}: options must be a table ([options] with KEY = VALUE lines), "
                          f"got {type(options).__name__}")
    out = {k: v for k, v in data.items() if k != "options"}
    out.update({f"options.{k}": v for k, v in options.items()})
    return out


def check_config_file_keys(path: str, values: dict[str, Any], method: Any) -> None:
    """Every key of a ``--config`` file is a config field or one of ``method``'s options (exit 2 naming
    the file, the key and the valid keys, before any data loads)."""
    from snnbench.config import TOP_LEVEL_KEYS

    unknown = [k for k in values if not (k in TOP_LEVEL_KEYS and not k.startswith("options."))
               and k.removeprefix("options.") not in method.option_defaults]
    if unknown:
        raise ConfigError(f"--config {path}: unknown key(s) {', '.join(unknown)} for method {method.name}; valid "
                          f"config fields: {', '.join(TOP_LEVEL_KEYS)}; valid [options]: "
                          f"{', '.join(sorted(method.option_defaults))}")


def resolve_run_config(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The run's config from ``--from-record``, or from recipe < ``--config`` < flags < ``--set``; and the
    tags that name where it came from."""
    flags, sets = run_flags(args), parse_sets(args.set)
    if args.from_record:
        from snnbench.config import record_config
        from snnbench.records import read_record

        given = [k for k, v in flags.items() if v is not None] + list(sets) + (["config"] if args.config else [])
        if given:
            raise ConfigError(f"--from-record re-runs a recorded configuration as it is; drop {', '.join(given)}")
        try:
            record = read_record(Path(args.from_record))
        except ConfigError as err:  # a stale or invalid record: the reason names the file and the fix
            raise ConfigError(f"--from-record: {err}") from None
        except (OSError, ValueError) as err:
            raise ConfigError(f"--from-record {args.from_record}: not a readable run record ({err})") from None
        try:
            cfg = record_config(record, check=True)  # the network fits the data (no data read)
            return cfg, {"from_record": record.run_id}
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, ConfigError):
                raise ConfigError(f"--from-record {args.from_record}: {err}") from None
            raise ConfigError(f"--from-record {args.from_record}: its config does not resolve "
                              f"({type(err).__name__}: {err})") from None
    method, dataset = create_method(args.method), create_dataset(args.dataset)
    if args.config:
        from_file = config_file_values(args.config)
        for key in ("method", "dataset"):
            if key in from_file:
                raise ConfigError(f"--config {args.config}: pick the {key} with --{key}, not in the file")
        check_config_file_keys(args.config, from_file, method)
        sets = {**{k: v for k, v in from_file.items() if flags.get(k) is None}, **sets}
    return resolve_config(method, dataset, flags, sets), {}


def run(args: argparse.Namespace, console: Console) -> int:
    from snnbench.engine import train

    cfg, origin = resolve_run_config(args)
    if args.print_config:
        print(json.dumps(cfg.as_dict(), indent=1, sort_keys=True))
        print(f"config hash {cfg.hash()}", file=sys.stderr)
        return 0
    check_trackers(args.log)
    runtime = runtime_of(args, resume=args.resume, command=shlex.join(["snnbench", *args.argv]), tags=origin)
    spend = f"budget {cfg.budget} (at most {cfg.epochs} epochs)" if cfg.budget else f"{cfg.epochs} epochs"
    console.print(f"[bold]{esc(cfg.method)}[/] on [bold]{esc(cfg.dataset)}[/]: arch {esc(cfg.arch)}, T={cfg.steps}, "
                  f"{spend}, batch {cfg.batch_size}, lr {cfg.lr:g}, seed {cfg.seed} "
                  f"(config {cfg.hash()})", highlight=False)
    trackers = Trackers(args.log, cfg, runtime.out) if args.log else None
    try:
        progress = progress_for(console, args.verbosity)
        record, path = train(cfg, runtime, progress=trackers.watch(progress) if trackers else progress)
    except BaseException:
        if trackers:
            trackers.finish()
        raise
    if trackers:
        trackers.finish(record, path)
    console.print(run_summary(record))
    print(f"record: {path}", flush=True)  # also under --quiet: the one result line
    return 0

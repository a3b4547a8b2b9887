"""Options shared by the subcommands that train (``run`` and ``tune``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from snnbench.records import DEFAULT_RUNS

DEFAULT_METHOD = "stbp"
DEFAULT_DATASET = "digits"
RUN_FLAGS = ("recipe", "arch", "steps", "epochs", "batch_size", "lr", "seed", "max_train_samples",
             "max_test_samples", "init_from", "budget")


def registry_names(kind: str) -> Any:
    """A callable listing the registered ``kind`` names, attached to an option as ``valid_names``: the help
    (and the completion script) lists them, loading the registry only when it is shown."""
    from snnbench import registry

    return registry.list_methods if kind == "method" else registry.list_datasets


def add_device_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda or cuda:N")


GRAPH_HELP = ("replay each training step from a CUDA graph (the same results, fewer launches): auto (on a GPU, "
              "for rules whose step can be captured), on, off")


def add_graph_option(p: argparse.ArgumentParser, text: str = GRAPH_HELP) -> None:
    """``--cuda-graph auto|on|off`` (what it does, in ``text``)."""
    p.add_argument("--cuda-graph", dest="cuda_graph", default="auto", choices=("auto", "on", "off"), help=text)


def add_data_options(p: argparse.ArgumentParser) -> None:
    """Where dataset files are looked for (``snnbench data list`` shows what each holds)."""
    p.add_argument("--data-dir", help="cache folder (default: $SNNBENCH_DATA or ~/.cache/snnbench)")
    p.add_argument("--mirror", help="read-only local mirror folder(s), separated by ':' (default: $SNNBENCH_MIRROR)")


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The method, dataset, recipe overrides, device and data folders of a training command."""
    p.add_argument("--method", default=DEFAULT_METHOD, metavar="NAME", help="learning rule"
                   ).valid_names = registry_names("method")
    p.add_argument("--dataset", default=DEFAULT_DATASET, metavar="NAME", help="dataset"
                   ).valid_names = registry_names("dataset")
    p.add_argument("--recipe", help="another published recipe for this dataset (see `snnbench list recipes`)")
    p.add_argument("--arch", help="architecture: a named network or notation like 15C5-P2-40C5-P2-300")
    p.add_argument("--steps", type=int, help="number of time steps T (default: the recipe's)")
    p.add_argument("--epochs", type=int, help="epochs (default: the recipe's)")
    p.add_argument("--batch-size", type=int, dest="batch_size", help="batch size (default: the recipe's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the recipe's)")
    p.add_argument("--seed", type=int, help="seed of the weights and the data order (default: the recipe's)")
    add_device_option(p)
    add_graph_option(p)
    add_data_options(p)
    p.add_argument("--max-train-samples", type=int, dest="max_train_samples",
                   help="use at most N training samples (default: all)")
    p.add_argument("--max-test-samples", type=int, dest="max_test_samples",
                   help="use at most N test samples (default: all)")
    p.add_argument("--init-from", dest="init_from", help="start from a checkpoint (.pt) or run record (.json)")
    p.add_argument("--budget", metavar="KIND=VALUE",
                   help="stop at a compute budget instead of after the epochs (which stay the upper bound): "
                        "cpu_s=SECONDS of this process's CPU time, wall_s=SECONDS, samples=N or updates=N; "
                        "the validation split is evaluated at 10 log-spaced fractions of it")
    add_threads_option(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field or method option (repeatable), e.g. --set threshold=0.5")
    add_out_option(p)


def add_threads_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads per run (default 0: one under a cpu_s budget on a CPU, each suite worker "
                        "its share of the cores, else torch's choice); recorded as environment.torch_threads")


def folder(text: str) -> str:
    """An argparse type: a folder name that is not empty (``--out ''`` would write into the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty folder name; give a folder (e.g. leaderboards/runs)")
    return text


def add_out_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=folder, default=os.environ.get("SNNBENCH_OUT", DEFAULT_RUNS),
                   help="record folder ($SNNBENCH_OUT)")


def run_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The config flags given on the command line (None where not given)."""
    return {k: getattr(args, k, None) for k in RUN_FLAGS}


def runtime_of(args: argparse.Namespace, **extra: Any) -> Any:
    """The run-time options (device, data folders, record folder) :func:`add_run_options` parsed."""
    from pathlib import Path

    from snnbench.engine import RuntimeOptions

    return RuntimeOptions(device=args.device, data_dir=args.data_dir, mirror=args.mirror, out=Path(args.out),
                          cuda_graph=getattr(args, "cuda_graph", "auto"),
                          threads=getattr(args, "threads", 0) or 0, **extra)


def split_list(text: str | None) -> list[str]:
    """``"a, b,,c"`` → ``["a", "b", "c"]``."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]

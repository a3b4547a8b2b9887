"""``snnbench bench``: time a training step of each method and of peer libraries, side by side."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from rich.console import Console

from snnbench.commands.common import add_device_option, add_graph_option, split_list
from snnbench.config import ConfigError, parse_sets
from snnbench.ui import esc, table

HELP = "time a training step of each method and of peer libraries, side by side"
EXAMPLES = """\
  snnbench bench --device cpu --suite cpu --threads 1
  snnbench bench --cases mnist --methods tsslbp,stbp --peers none
  snnbench bench --cases nmnist-t30 --sweep-steps 10,30,100"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cases", default="mnist,fmnist-mlp,nmnist-t30,nmnist-t100,cifar10-cnn1",
                   help="comma-separated networks (see `snnbench list cases`; nmnist-slayer is the T=300 one)")
    p.add_argument("--methods", default="tsslbp,stbp", help="comma-separated snnbench methods")
    p.add_argument("--suite", default="", help="instead of --cases/--methods: each rule on its own network as the "
                                               "suite's cells train it (e.g. cpu: the CPU track), peers none")
    p.add_argument("--peers", default="installed", help="spikingjelly,spikingjelly-bn,snntorch,ann | installed | none "
                                                         "(ann: the ReLU floor of the same topology, always installed)")
    p.add_argument("--profile", type=int, default=0, metavar="ROWS",
                   help="instead of timing, print the top ROWS kernels of one step of each method")
    add_device_option(p)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    p.add_argument("--repeats", type=int, default=10, help="timed steps (the median is reported)")
    p.add_argument("--sweep-steps", dest="sweep_steps", help="comma-separated T values: sweep T on each case")
    add_graph_option(p, "also time each capturable step replayed from a CUDA graph: auto (on a GPU), on, off")
    p.add_argument("--set", action="append", default=[], metavar="METHOD.KEY=VALUE",
                   help="a method option for the benchmark, e.g. tsslbp.backend=torch")
    p.add_argument("--out", default="leaderboards/bench", help="folder for the JSON (and the sweep plot)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default 0: torch's choice, all cores); "
                                                          "run once with 1 and once with 0 for both columns")


def method_options(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """``["tsslbp.backend=torch"]`` → ``{"tsslbp": {"backend": "torch"}}``."""
    options: dict[str, dict[str, Any]] = {}
    for key, value in parse_sets(pairs).items():
        if "." not in key:
            raise ConfigError(f"bench --set needs METHOD.KEY=VALUE, got {key!r}")
        method, name = key.split(".", 1)
        options.setdefault(method, {})[name] = value
    return options


def not_applicable(result: Any) -> bool:
    """A network the method cannot build (e.g. TSSL-BP's sum pooling on odd sizes): not a failure."""
    return result.note.startswith("ConfigError")


def run(args: argparse.Namespace, console: Console) -> int:
    from snnbench.bench import case_plan, method_step, profile_step, run_plan, suite_cases

    device, graphed = _device(args)
    # every input checked before any timing: the cases (or the suite's networks) and the peers
    plan = [(c, [m]) for c, m in suite_cases(args.suite)] if args.suite else case_plan(split_list(args.cases),
                                                                                         split_list(args.methods))
    peers = [] if args.suite else _peers(args.peers, console)  # a suite's rules on their own networks only
    options = method_options(args.set)
    sweep = [int(v) for v in split_list(args.sweep_steps)] if args.sweep_steps else None
    if args.profile:
        for case, methods in plan:
            for method in methods:
                step = method_step(method, case, case.steps, device, options.get(method))
                console.print(f"[bold]{esc(case.name)} snnbench:{esc(method)}[/bold]")
                print(profile_step(step, device, args.profile))
        return 0

    def report(r: Any) -> None:
        timing = f"{r.ms_per_step:.2f} ms" if r.ms_per_step else r.note
        if r.graphed_ms is not None:
            timing += f", graphed {r.graphed_ms:.2f} ms"
        console.print(esc(f"{r.case} T={r.steps} {r.impl}: {timing}"))

    results = run_plan(plan, peers, device, args.warmup, args.repeats, sweep, options, report, graphed)
    _show_and_write(results, peers, args, device, sweep, console)
    return 0 if all(r.ms_per_step is not None or r.impl in peers or not_applicable(r) for r in results) else 1


def _device(args: argparse.Namespace) -> tuple[Any, bool]:
    """The device, its threads set, and whether steps are also timed graphed; bad values refused first."""
    from snnbench.engine import resolve_device
    from snnbench.graphs import graph_plan

    if args.warmup < 0 or args.repeats < 1:
        raise ConfigError(f"--warmup {args.warmup} / --repeats {args.repeats}: need warmup >= 0 and repeats >= 1")
    if args.threads < 0:
        raise ConfigError(f"--threads must be >= 0, got {args.threads}")
    device = resolve_device(args.device)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    graphs = graph_plan(args.cuda_graph, device)  # each step's own capturability is asked as it is timed
    if graphs.error:
        raise ConfigError(graphs.error)
    return device, graphs.graphed


def _peers(choice: str, console: Console) -> list[str]:
    """The peers to time: ``installed`` (saying which are not), ``none``, or a list."""
    from snnbench.bench import PEERS, available_peers

    if choice == "none":
        return []
    if choice != "installed":
        return split_list(choice)
    peers = available_peers()
    missing = [p for p in PEERS if p not in peers]
    if missing:
        console.print(esc(f"peers not installed, so not timed: {', '.join(missing)} "
                          "(spikingjelly: pip install 'snnbench[peers]'; snntorch: pip install snntorch)"))
    return peers


def _show_and_write(results: list[Any], peers: list[str], args: argparse.Namespace, device: Any,
                    sweep: list[int] | None, console: Console) -> None:
    from snnbench.bench_report import plot_sweep, result_cells, write_results
    from snnbench.records import environment

    headers, rows = result_cells(results, peers)
    view = table(f"training step, median of {args.repeats} after {args.warmup} warm-up ({device})", headers,
                 no_wrap=True)
    for row in rows:
        view.add_row(*map(esc, row))
    console.print(view)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%S")
    path = Path(args.out) / f"bench-{device.type}-{stamp}.json"
    write_results(results, path, environment(str(device)))
    console.print(f"results: {esc(str(path))}")
    if sweep:
        plot = plot_sweep(results, path.with_suffix(".png"))
        if plot is not None:
            console.print(f"plot: {esc(str(plot))}")

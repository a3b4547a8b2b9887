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
    from snnbench.bench import (
        CASES,
        available_peers,
        method_step,
        plot_sweep,
        profile_step,
        run_bench,
        run_plan,
        suite_cases,
        write_results,
    )
    from snnbench.engine import resolve_device
    from snnbench.graphs import graph_plan
    from snnbench.records import environment

    if args.warmup < 0 or args.repeats < 1:
        raise ConfigError(f"--warmup {args.warmup} / --repeats {args.repeats}: need warmup >= 0 and repeats >= 1")
    device = resolve_device(args.device)
    if args.threads < 0:
        raise ConfigError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    graphs = graph_plan(args.cuda_graph, device)  # each step's own capturability is asked as it is timed
    if graphs.error:
        raise ConfigError(graphs.error)
    plan = [(case, [method]) for case, method in suite_cases(args.suite)] if args.suite else None  # checked first
    peers = available_peers() if args.peers == "installed" else [] if args.peers == "none" else split_list(args.peers)
    peers = [] if plan is not None else peers  # a suite's rules on their own networks; peers build the cases'
    if args.peers == "installed" and plan is None:
        from snnbench.bench import PEERS

        missing = [p for p in PEERS if p not in peers]
        if missing:
            console.print(esc(f"peers not installed, so not timed: {', '.join(missing)} "
                              "(spikingjelly: pip install 'snnbench[peers]'; snntorch: pip install snntorch)"))
    options = method_options(args.set)
    sweep = [int(v) for v in split_list(args.sweep_steps)] if args.sweep_steps else None
    if args.profile:
        for case, methods in plan or [(CASES[name], split_list(args.methods)) for name in split_list(args.cases)]:
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

    if plan is not None:
        results = run_plan(plan, [], device, args.warmup, args.repeats, sweep, options, report, graphs.graphed)
    else:
        results = run_bench(split_list(args.cases), split_list(args.methods), peers, device, args.warmup,
                            args.repeats, sweep, options, report, graphs.graphed)
    console.print(results_table(results, peers, args, device))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%S")
    path = Path(args.out) / f"bench-{device.type}-{stamp}.json"
    write_results(results, path, environment(str(device)))
    console.print(f"results: {esc(str(path))}")
    if sweep:
        plot = plot_sweep(results, path.with_suffix(".png"))
        if plot is not None:
            console.print(f"plot: {esc(str(plot))}")
    return 0 if all(r.ms_per_step is not None or r.impl in peers or not_applicable(r) for r in results) else 1


def results_table(results: list[Any], peers: list[str], args: argparse.Namespace, device: Any) -> Any:
    """One row per (case, T, implementation): eager and graphed step times, with the ratio to each
    spikingjelly reference and to the ANN floor (eager to eager; graphed to the graphed floor)."""
    refs = [p for p in ("spikingjelly", "spikingjelly-bn", "ann") if p in peers]
    graphed = any(r.graphed_ms is not None for r in results)
    floor = ["vs ann graphed"] if graphed and "ann" in peers else []
    out = table(f"training step, median of {args.repeats} after {args.warmup} warm-up ({device})",
                ("case", "T", "batch", "implementation", "ms / step", *(["graphed ms"] if graphed else []),
                 "peak MiB", "CPU peak MiB", "GFLOP", "roofline", *(f"vs {p}" for p in refs), *floor), no_wrap=True)
    reference = {(r.impl, r.case, r.steps): r.ms_per_step for r in results if r.impl in refs and r.ms_per_step}
    graphed_floor = {(r.case, r.steps): r.graphed_ms for r in results if r.impl == "ann" and r.graphed_ms}
    for r in results:
        ratios = [reference.get((p, r.case, r.steps)) for p in refs]
        status = "n/a" if not_applicable(r) else "failed"
        row = [esc(r.case), str(r.steps), str(r.batch), esc(r.impl),
               f"{r.ms_per_step:.2f}" if r.ms_per_step is not None else status]
        if graphed:
            row.append(f"{r.graphed_ms:.2f}" if r.graphed_ms is not None else "-")
        row.append(f"{r.peak_mib:.0f}" if r.peak_mib is not None else "-")
        row.append(f"{r.cpu_peak_mib:.0f}" if r.cpu_peak_mib is not None else "-")
        row.append(f"{r.gflop:.3f}" if r.gflop is not None else "-")
        row.append(f"{100 * r.roofline:.1f}%" if r.roofline is not None else "-")
        row += [f"{r.ms_per_step / ref:.2f}x" if ref and r.ms_per_step else "-" for ref in ratios]
        if floor:
            ref = graphed_floor.get((r.case, r.steps))
            row.append(f"{r.graphed_ms / ref:.2f}x" if ref and r.graphed_ms else "-")
        out.add_row(*row)
    return out

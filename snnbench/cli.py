"""The ``snnbench`` command line. Exit codes: 0 success, 1 a failed run, 2 bad usage."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape as esc
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from snnbench.arch import NAMED_ARCHS, ArchSyntaxError
from snnbench.config import ConfigError, parse_sets, resolve_config
from snnbench.files import DataContext, DataFileError
from snnbench.registry import DATASETS, METHODS, UnknownNameError, create_dataset, create_method

DEFAULT_METHOD = "stbp"
DEFAULT_DATASET = "digits"
USAGE_ERRORS = (UnknownNameError, ConfigError, ArchSyntaxError)


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 on its own errors; keep that, with our message
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


class RichProgress:
    """Per-epoch progress bar (loss, accuracy, samples/s) and a line per finished epoch."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar: Progress | None = None
        self.task: Any = None

    def start_epoch(self, epoch: int, epochs: int, batches: int) -> None:
        self.bar = Progress(TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.2f}%  "
                                       "{task.fields[sps]:.0f} samples/s"),
                            TimeElapsedColumn(), console=self.console, transient=True)
        self.bar.start()
        self.task = self.bar.add_task("train", total=batches, loss=0.0, acc=0.0, sps=0.0)

    def advance(self, loss: float, accuracy: float, samples_per_s: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, loss=loss, acc=accuracy, sps=samples_per_s)

    def end_epoch(self, row: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.stop()
        val = f"{row['val_acc']:.2f}%" if row["val_acc"] is not None else "-"
        self.console.print(f"epoch {row['epoch']}: loss {row['train_loss']:.4f}  train {row['train_acc']:.2f}%  "
                           f"val {val}  test {row['test_acc']:.2f}%  ({row['epoch_time_s']:.1f} s)")


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``run`` and (later) ``tune``."""
    p.add_argument("--method", default=DEFAULT_METHOD, help=f"learning rule (default {DEFAULT_METHOD})")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help=f"dataset (default {DEFAULT_DATASET})")
    p.add_argument("--recipe", help="another published recipe for this dataset (see `snnbench list recipes`)")
    p.add_argument("--arch", help="architecture: a named network or notation like 15C5-P2-40C5-P2-300")
    p.add_argument("--steps", type=int, help="number of time steps T")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--data-dir", help="cache folder (default $SNNBENCH_DATA or ~/.cache/snnbench)")
    p.add_argument("--mirror", help="read-only local mirror folder(s) (default $SNNBENCH_MIRROR)")
    p.add_argument("--max-train-samples", type=int, dest="max_train_samples")
    p.add_argument("--max-test-samples", type=int, dest="max_test_samples")
    p.add_argument("--init-from", dest="init_from", help="start from a checkpoint (.pt) or run record (.json)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any recipe field")
    p.add_argument("--out", default=os.environ.get("SNNBENCH_OUT", "leaderboards/runs"), help="record folder")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="snnbench", description="A fair benchmark of learning rules for spiking networks.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    run = sub.add_parser("run", help="train one method on one dataset and write a run record")
    add_run_options(run)
    run.add_argument("--resume", action="store_true", help="continue from the last checkpoint of this config")
    add_bench_parser(sub)
    lst = sub.add_parser("list", help="list methods, datasets, architectures and recipes")
    lst.add_argument("what", nargs="?", default="all", choices=["all", "methods", "datasets", "archs", "recipes"])
    data = sub.add_parser("data", help="check or fetch dataset files")
    data.add_argument("action", choices=["check", "fetch"])
    data.add_argument("dataset")
    data.add_argument("--data-dir")
    data.add_argument("--mirror")
    return parser


def add_bench_parser(sub: Any) -> None:
    tune = sub.add_parser("tune", help="an Optuna study over a method's search space (resumable, prunable, shared)")
    add_run_options(tune)
    tune.add_argument("--trials", type=int, default=10, help="trials this call adds to the study")
    tune.add_argument("--timeout", type=float, default=None, help="stop adding trials after this many seconds")
    tune.add_argument("--storage", default="", help="Optuna storage URL (default sqlite under <out>/tune/), "
                      "e.g. postgresql://..., or journal:PATH for a journal file on a shared filesystem")
    tune.add_argument("--study", default="", help="study name (default <method>-<dataset>); same name resumes")
    tune.add_argument("--sampler", default="tpe", help="tpe | cmaes | random | grid")
    tune.add_argument("--pruner", default="median", help="median | hyperband | none (on validation accuracy)")
    tune.add_argument("--objective", default="accuracy", help="accuracy | accuracy,time (Pareto front)")
    tune.add_argument("--budget-epochs", type=int, default=0, dest="budget_epochs", help="epochs per trial")
    tune.add_argument("--space", action="append", default=[], metavar="NAME=LOW:HIGH[:log|int]",
                      help="override or add a search dimension")
    tune.add_argument("--workers", type=int, default=1, help="processes on this machine joining the study")
    tune.add_argument("--best", type=int, default=0, metavar="SEEDS",
                      help="instead of tuning, re-run the best configuration with this many seeds")
    tune.add_argument("--report", action="store_true", help="instead of tuning, print the study's report")
    board = sub.add_parser("leaderboard", help="aggregate run records into the leaderboard (table, files, plots)")
    board.add_argument("--runs", default="leaderboards/runs", help="folder of run records (searched recursively)")
    board.add_argument("--dataset", default=None, help="only this dataset (a variant is its own dataset)")
    board.add_argument("--format", default=None, choices=("md", "html", "csv", "json"),
                       help="print this format instead of the table")
    board.add_argument("--out", default="leaderboards", help="where LEADERBOARD.md, csv, json and plots/ go")
    board.add_argument("--no-files", action="store_true", help="only print; write nothing")
    bench = sub.add_parser("bench", help="time a training step of each method and of peer libraries, side by side")
    bench.add_argument("--cases", default="mnist,fmnist-mlp,nmnist-t30,nmnist-t100,cifar10-cnn1",
                       help="comma-separated networks (see snnbench.bench.CASES; nmnist-slayer is the T=300 one)")
    bench.add_argument("--methods", default="tsslbp,stbp", help="comma-separated snnbench methods")
    bench.add_argument("--peers", default="installed",
                       help="spikingjelly,spikingjelly-bn,snntorch | installed | none")
    bench.add_argument("--profile", type=int, default=0, metavar="ROWS",
                       help="instead of timing, print the top ROWS kernels of one step of each method")
    bench.add_argument("--device", default="auto")
    bench.add_argument("--warmup", type=int, default=3)
    bench.add_argument("--repeats", type=int, default=10)
    bench.add_argument("--sweep-steps", dest="sweep_steps", help="comma-separated T values: sweep T on each case")
    bench.add_argument("--set", action="append", default=[], metavar="METHOD.KEY=VALUE",
                       help="a method option for the benchmark, e.g. tsslbp.backend=torch")
    bench.add_argument("--out", default="leaderboards/bench", help="folder for the JSON (and the sweep plot)")


def run_flags(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("recipe", "arch", "steps", "epochs", "batch_size", "lr", "seed", "max_train_samples", "max_test_samples",
            "init_from")
    return {k: getattr(args, k, None) for k in keys}


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from snnbench.engine import RuntimeOptions, train

    method, dataset = create_method(args.method), create_dataset(args.dataset)
    cfg = resolve_config(method, dataset, run_flags(args), parse_sets(args.set))
    runtime = RuntimeOptions(device=args.device, data_dir=args.data_dir, mirror=args.mirror, out=Path(args.out),
                             resume=args.resume, command=shlex.join(["snnbench", *args.argv]))
    console.print(f"[bold]{esc(cfg.method)}[/] on [bold]{esc(cfg.dataset)}[/]: arch {esc(cfg.arch)}, T={cfg.steps}, "
                  f"{cfg.epochs} epochs, batch {cfg.batch_size}, lr {cfg.lr:g}, seed {cfg.seed} "
                  f"(config {cfg.hash()})")
    record, path = train(cfg, runtime, progress=RichProgress(console))
    table = Table(title=esc(f"{cfg.method} on {cfg.dataset}"))
    table.add_column("metric")
    table.add_column("value", justify="right")
    res, cost = record["results"], record["cost"]
    rows = [
        ("variant", record["dataset_info"]["variant"]),
        ("test acc @ best val", f"{res['test_acc_at_best_val']:.2f}% (epoch {res['best_val_epoch']})"),
        ("test acc, last epoch", f"{res['test_acc_last']:.2f}%"),
        ("train time", f"{cost['train_time_s']:.1f} s"),
        ("ms / step", f"{cost['ms_per_step']:.2f}" if cost["ms_per_step"] is not None else "-"),
        ("samples / s", f"{cost['samples_per_s']:.0f}" if cost["samples_per_s"] else "-"),
        ("peak GPU memory", f"{cost['peak_gpu_mem_mib']:.0f} MiB" if cost["peak_gpu_mem_mib"] is not None else "-"),
        ("parameters", f"{cost['params']:,}"),
    ]
    for name, stats in record["firing"].items():
        if stats:
            rows.append((f"firing {name}", f"rate {stats['mean_rate']:.3f}, silent {stats['silent_fraction']:.1%}"))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(f"record: {esc(str(path))}")
    return 0


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    if args.what in ("all", "methods"):
        table = Table(title="methods")
        table.add_column("name")
        table.add_column("description")
        for name in METHODS.names():
            table.add_row(name, create_method(name).description)
        console.print(table)
    if args.what in ("all", "datasets"):
        table = Table(title="datasets")
        for col in ("name", "variant", "kind", "classes", "input", "description"):
            table.add_column(col)
        for name in DATASETS.names():
            d = create_dataset(name)
            table.add_row(name, d.variant or "original", d.kind, str(d.num_classes),
                          "x".join(map(str, d.input_shape)), d.description)
        console.print(table)
    if args.what in ("all", "archs"):
        table = Table(title="named architectures")
        table.add_column("name")
        table.add_column("notation")
        for name, spec in NAMED_ARCHS.items():
            table.add_row(name, spec)
        console.print(table)
    if args.what in ("all", "recipes"):
        table = Table(title="recipes (method x dataset family[:recipe])")
        for col in ("method", "dataset", "arch", "T", "epochs", "batch", "lr", "optimizer"):
            table.add_column(col)
        for name in METHODS.names():
            method = create_method(name)
            for family, recipe in method.recipes.items():
                r = {**method.default_recipe, **recipe}
                table.add_row(name, family, str(r.get("arch")), str(r.get("steps")), str(r.get("epochs")),
                              str(r.get("batch_size")), f"{r.get('lr'):g}", str(r.get("optimizer", "adam")))
        console.print(table)
    return 0


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    import datetime as dt

    from snnbench.bench import available_peers, plot_sweep, run_bench, write_results
    from snnbench.engine import resolve_device
    from snnbench.records import environment

    device = resolve_device(args.device)
    peers = available_peers() if args.peers == "installed" else [] if args.peers == "none" else _split(args.peers)
    options: dict[str, dict[str, Any]] = {}
    for key, value in parse_sets(args.set).items():
        if "." not in key:
            raise ConfigError(f"bench --set needs METHOD.KEY=VALUE, got {key!r}")
        method, name = key.split(".", 1)
        options.setdefault(method, {})[name] = value
    sweep = [int(v) for v in _split(args.sweep_steps)] if args.sweep_steps else None
    if args.profile:
        from snnbench.bench import CASES, method_step, profile_step

        for case in _split(args.cases):
            for method in _split(args.methods):
                step = method_step(method, CASES[case], CASES[case].steps, device, options.get(method))
                console.print(f"[bold]{esc(case)} snnbench:{esc(method)}[/bold]")
                print(profile_step(step, device, args.profile))
        return 0
    refs = [p for p in ("spikingjelly", "spikingjelly-bn") if p in peers]
    table = Table(title=f"training step, median of {args.repeats} after {args.warmup} warm-up ({device})")
    for col in ("case", "T", "batch", "implementation", "ms / step", "peak MiB", *(f"vs {p}" for p in refs)):
        table.add_column(col, justify="right" if col not in ("case", "implementation") else "left", no_wrap=True)

    def report(r: Any) -> None:
        timing = f"{r.ms_per_step:.2f} ms" if r.ms_per_step else r.note
        console.print(esc(f"{r.case} T={r.steps} {r.impl}: {timing}"))

    results = run_bench(_split(args.cases), _split(args.methods), peers, device, args.warmup, args.repeats,
                        sweep, options, report)
    reference = {(r.impl, r.case, r.steps): r.ms_per_step for r in results if r.impl in refs and r.ms_per_step}
    for r in results:
        ratios = [reference.get((p, r.case, r.steps)) for p in refs]
        status = "n/a" if _not_applicable(r) else "failed"
        table.add_row(r.case, str(r.steps), str(r.batch), r.impl,
                      f"{r.ms_per_step:.2f}" if r.ms_per_step is not None else status,
                      f"{r.peak_mib:.0f}" if r.peak_mib is not None else "-",
                      *(f"{r.ms_per_step / ref:.2f}x" if ref and r.ms_per_step else "-" for ref in ratios))
    console.print(table)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%S")
    path = Path(args.out) / f"bench-{device.type}-{stamp}.json"
    write_results(results, path, environment(str(device)))
    console.print(f"results: {esc(str(path))}")
    if sweep:
        plot = plot_sweep(results, path.with_suffix(".png"))
        if plot is not None:
            console.print(f"plot: {esc(str(plot))}")
    return 0 if all(r.ms_per_step is not None or r.impl in peers or _not_applicable(r) for r in results) else 1


def _not_applicable(result: Any) -> bool:
    """A network the method cannot build (e.g. TSSL-BP's sum pooling on odd sizes): not a failure."""
    return result.note.startswith("ConfigError")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def cmd_data(args: argparse.Namespace, console: Console) -> int:
    dataset = create_dataset(args.dataset)
    ctx = DataContext.from_options(args.data_dir, args.mirror, download=args.action == "fetch")
    if not dataset.files:
        console.print(f"{esc(dataset.name)}: bundled with its library, nothing to fetch")
        return 0
    failed = 0
    from snnbench.files import resolve

    for file in dataset.files:
        try:
            path = resolve(file, ctx, dataset.name)
            console.print(f"[green]ok[/] {esc(file.name)} ({file.md5}) at {esc(str(path))}")
        except DataFileError as err:
            failed += 1
            console.print(f"[red]missing[/] {esc(str(err))}")
    return 1 if failed else 0


def cmd_tune(args: argparse.Namespace, console: Console) -> int:
    import subprocess

    from snnbench import tune as tn
    from snnbench.engine import RuntimeOptions

    spec = tn.TuneSpec(
        method=args.method, dataset=args.dataset, trials=args.trials, timeout=args.timeout, storage=args.storage,
        study=args.study, sampler=args.sampler, pruner=args.pruner, objective=args.objective,
        budget_epochs=args.budget_epochs, seed=args.seed, space=args.space, flags=run_flags(args),
        worker=int(os.environ.get("SNNBENCH_TUNE_WORKER", "0")),
        sets=parse_sets(args.set),
        runtime=RuntimeOptions(device=args.device, data_dir=args.data_dir, mirror=args.mirror, out=Path(args.out)))
    spec.multi  # noqa: B018 -- validates the objective before anything starts
    if args.report:
        _print_study_report(tn.study_report(tn.load_study(spec, create=False)), console)
        return 0
    if args.best:
        for path in tn.rerun_best(spec, args.best):
            console.print(f"record: {esc(str(path))}")
        return 0
    study = tn.load_study(spec)  # create it (and its first, published-recipe trial) before any worker starts
    argv = [a for a in getattr(args, "argv", []) if a]
    extra = [subprocess.Popen([sys.executable, "-m", "snnbench.cli", *argv, "--workers", "1"],
                              env={**os.environ, "SNNBENCH_TUNE_WORKER": str(i)})
             for i in range(1, max(args.workers, 1))]
    view = _TuneView(console, spec)
    with view.live():
        study = tn.run_study(spec, report=view.epoch, on_trial=view.trial, study=study)
    console.print()
    codes = [p.wait() for p in extra]
    _print_study_report(tn.study_report(study), console)
    return 0 if all(c == 0 for c in codes) else 1


class _TuneView:
    """A rich live view: trials done / pruned / failed, the best value so far, the current trial's epoch."""

    def __init__(self, console: Console, spec: Any) -> None:
        import time

        self.console, self.spec, self.start = console, spec, time.perf_counter()
        self.counts = {"complete": 0, "pruned": 0, "fail": 0}
        self.best: float | None = None
        self.current = "-"
        self._live: Any = None

    def live(self) -> Any:
        from rich.live import Live

        self._live = Live(self.render(), console=self.console, refresh_per_second=2, transient=False)
        return self._live

    def render(self) -> Table:
        from snnbench.tune import elapsed

        table = Table(title=esc(f"tuning {self.spec.method} on {self.spec.dataset} (study {self.spec.study_name})"))
        for col in ("done", "pruned", "failed", "best val acc", "current trial", "elapsed"):
            table.add_column(col)
        best = f"{self.best:.2f}%" if self.best is not None else "-"
        table.add_row(str(self.counts["complete"]), str(self.counts["pruned"]), str(self.counts["fail"]), best,
                      self.current, elapsed(self.start))
        return table

    def epoch(self, number: int, epoch: int, epochs: int, row: dict[str, Any]) -> None:
        self.current = f"#{number}: epoch {epoch}/{epochs}, val {row.get('val_acc') or 0:.2f}%"
        if self._live is not None:
            self._live.update(self.render())

    def trial(self, study: Any, trial: Any) -> None:
        state = trial.state.name.lower()
        if state in self.counts:
            self.counts[state] += 1
        if trial.values and (self.best is None or trial.values[0] > self.best):
            self.best = trial.values[0]
        if self._live is not None:
            self._live.update(self.render())


def _print_study_report(report: dict[str, Any], console: Console) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in report["counts"].items())
    console.print(f"study [bold]{esc(str(report['study']))}[/] ({esc(str(report['attrs']))}): {esc(counts)}")
    table = Table(title="Pareto front (val acc up, train time down)" if report["pareto"] else "best trials")
    for col in ("trial", "values", "params", "record"):
        table.add_column(col, overflow="fold")
    for t in report["best"]:
        values = ", ".join(f"{v:.3g}" for v in t["values"] or [])
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["params"].items())
        table.add_row(str(t["number"]), values, params, str(t["record"] or "-"))
    console.print(table)
    if report["importances"]:
        console.print("importances: " + ", ".join(f"{k} {v:.2f}" for k, v in report["importances"].items()))


def cmd_leaderboard(args: argparse.Namespace, console: Console) -> int:
    from snnbench import leaderboard as lb

    records, skipped = lb.load_records(Path(args.runs))
    rows = lb.build_rows(records, args.dataset)
    for path, why in skipped:
        Console(stderr=True).print(f"[yellow]left out[/] {esc(str(path))}: {esc(why)}", highlight=False)
    if not rows:
        where = f" for {args.dataset}" if args.dataset else ""
        console.print(esc(f"no completed run records{where} under {args.runs}"))
        return 1
    if args.format:
        text = {"md": lambda: lb.to_markdown(rows, skipped), "csv": lambda: lb.to_csv(rows),
                "json": lambda: lb.to_json(rows, skipped), "html": lambda: lb.to_html(rows, skipped, [])}
        print(text[args.format](), end="")
    else:
        # the console gets the columns that decide a comparison; the files have all of them
        shown = ("dataset", "method", "options", "arch", "T", "device", "seeds", "accuracy", "train time",
                 "ms/step", "peak MiB", "published", "diff")
        index = [lb.COLUMNS.index(c) for c in shown]
        table = Table(title=f"snnbench leaderboard ({len(records)} runs)")
        for col in shown:
            table.add_column(col, overflow="fold")
        for row in rows:
            cells = lb.table_cells(row)
            cells[lb.COLUMNS.index("published")] = cells[lb.COLUMNS.index("published")].split(" (")[0]
            table.add_row(*(esc(cells[i]) for i in index))
        Console(width=max(console.width, 180)).print(table)
    if not args.no_files:
        files = lb.write_leaderboard(rows, records, skipped, Path(args.out))
        if not any((Path(args.out) / "plots").glob("*.png")):
            Console(stderr=True).print("[yellow]no plots[/]: matplotlib is not installed")
        Console(stderr=True).print("wrote " + ", ".join(str(p) for p in files.values()), highlight=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    console, errors = Console(), Console(stderr=True)
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        argv = ["run"]
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    args.argv = argv
    handler = {"run": cmd_run, "list": cmd_list, "data": cmd_data, "bench": cmd_bench, "tune": cmd_tune,
               "leaderboard": cmd_leaderboard}[args.command]
    try:
        return handler(args, console)
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

"""Rich views of the command line: progress bars, result tables and live views. User text is always
escaped (:func:`esc`) before it reaches rich's markup."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape as esc
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["PlainProgress", "RichProgress", "TuneLines", "TuneView", "epoch_line", "esc", "print_study_report",
           "progress_for", "run_summary", "table", "tune_view"]


def table(title: str, columns: tuple[str, ...] | list[str], **column_options: Any) -> Table:
    """A table with ``columns`` (title escaped)."""
    out = Table(title=esc(title))
    for column in columns:
        out.add_column(column, **column_options)
    return out


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
        self.console.print(epoch_line(row), highlight=False)


class PlainProgress:
    """One plain line per finished epoch, flushed: what a log file (SLURM) should hold (no bars, no
    blank lines, no wrapping)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def start_epoch(self, epoch: int, epochs: int, batches: int) -> None: ...
    def advance(self, loss: float, accuracy: float, samples_per_s: float) -> None: ...

    def end_epoch(self, row: dict[str, Any]) -> None:
        self.console.print(epoch_line(row), highlight=False)
        self.console.file.flush()


def epoch_line(row: dict[str, Any]) -> str:
    val = f"{row['val_acc']:.2f}%" if row["val_acc"] is not None else "-"
    return (f"epoch {row['epoch']}: loss {row['train_loss']:.4f}  train {row['train_acc']:.2f}%  val {val}  "
            f"test {row['test_acc']:.2f}%  ({row['epoch_time_s']:.1f} s)")


def progress_for(console: Console, verbosity: int = 0) -> RichProgress | PlainProgress | None:
    """A progress bar on a terminal, plain epoch lines otherwise, nothing with ``--quiet``."""
    if verbosity < 0:
        return None
    return RichProgress(console) if console.is_terminal else PlainProgress(console)


def run_summary(record: dict[str, Any]) -> Table:
    """The table printed after a run: headline results, cost and firing per layer."""
    res, cost = record["results"], record["cost"]
    out = table(f"{record['method']} on {record['dataset']}", ("metric", "value"))
    out.columns[1].justify = "right"
    rows = [
        ("variant", record["dataset_info"]["variant"]),
        ("test acc @ best val", f"{res['test_acc_at_best_val']:.2f}% (epoch {res['best_val_epoch']})"),
        ("max test acc (ref. conv.)", f"{res['max_test_acc']:.2f}% (epoch {res['max_test_epoch']})"),
        ("test acc, last epoch", f"{res['test_acc_last']:.2f}%"),
        ("train time", f"{cost['train_time_s']:.1f} s"),
        ("ms / step", f"{cost['ms_per_step']:.2f}" if cost["ms_per_step"] is not None else "-"),
        ("samples / s", f"{cost['samples_per_s']:.0f}" if cost["samples_per_s"] else "-"),
        ("feed ratio (1 = steps never wait)", f"{cost['feed_ratio']:.2f}" if cost.get("feed_ratio") else "-"),
        ("CUDA graph", record.get("execution", {}).get("cuda_graph", "-")),
        ("peak GPU memory", f"{cost['peak_gpu_mem_mib']:.0f} MiB" if cost["peak_gpu_mem_mib"] is not None else "-"),
        ("parameters", f"{cost['params']:,}"),
    ]
    for name, stats in record["firing"].items():
        if stats:
            rows.append((f"firing {name}", f"rate {stats['mean_rate']:.3f}, silent {stats['silent_fraction']:.1%}"))
    for name, value in rows:
        out.add_row(esc(name), esc(value))
    return out


class TuneView:
    """A rich live view: trials done / pruned / failed, the best value so far, the current trial's epoch."""

    def __init__(self, console: Console, spec: Any) -> None:
        self.console, self.spec, self.start = console, spec, time.perf_counter()
        self.counts = {"complete": 0, "pruned": 0, "fail": 0}
        self.best: float | None = None
        self.current = "-"
        self._live: Any = None

    def live(self) -> Live:
        self._live = Live(self.render(), console=self.console, refresh_per_second=2, transient=False)
        return self._live

    def render(self) -> Table:
        from snnbench.tune import elapsed

        out = table(f"tuning {self.spec.method} on {self.spec.dataset} (study {self.spec.study_name})",
                    ("done", "pruned", "failed", "best val acc", "current trial", "elapsed"))
        best = f"{self.best:.2f}%" if self.best is not None else "-"
        out.add_row(str(self.counts["complete"]), str(self.counts["pruned"]), str(self.counts["fail"]), best,
                    self.current, elapsed(self.start))
        return out

    def epoch(self, number: int, epoch: int, epochs: int, row: dict[str, Any]) -> None:
        self.current = f"#{number}: epoch {epoch}/{epochs}, val {row.get('val_acc') or 0:.2f}%"
        if self._live is not None:
            self._live.update(self.render())

    def trial(self, study: Any, trial: Any) -> None:
        state = trial.state.name.lower()
        if state in self.counts:
            self.counts[state] += 1
        self.best = study_best(study, self.best, trial)
        if self._live is not None:
            self._live.update(self.render())


class TuneLines:
    """What :class:`TuneView` shows, as plain lines for a log file: one per finished trial (state, value,
    parameters, the best so far); with ``-v`` one per epoch too."""

    def __init__(self, console: Console, spec: Any, verbosity: int = 0) -> None:
        self.console, self.spec, self.verbosity = console, spec, verbosity
        self.best: float | None = None

    def live(self) -> Any:
        import contextlib

        self.console.print(f"tuning {self.spec.method} on {self.spec.dataset} (study {self.spec.study_name})",
                           highlight=False)
        return contextlib.nullcontext()

    def epoch(self, number: int, epoch: int, epochs: int, row: dict[str, Any]) -> None:
        if self.verbosity > 0:
            self.console.print(f"trial {number} epoch {epoch}/{epochs}: val {row.get('val_acc') or 0:.2f}%",
                               highlight=False)

    def trial(self, study: Any, trial: Any) -> None:
        self.best = study_best(study, self.best, trial)
        values = " ".join(f"{name} {v:.4g}" for name, v in zip(_metric_names(study), trial.values or [],
                                                                  strict=False))
        best = f"{self.best:.2f}" if self.best is not None else "-"
        self.console.print(f"trial {trial.number} {trial.state.name.lower()}: {values or '-'}  "
                           f"{_params_text(trial.params)}  (best {best})", highlight=False)
        self.console.file.flush()


def study_best(study: Any, best: float | None, trial: Any) -> float | None:
    """The best (first) objective value so far: the study's, trials of earlier calls included."""
    if len(study.directions) == 1:
        try:
            return float(study.best_value)
        except ValueError:  # no completed trial yet
            return best
    if trial.values and (best is None or trial.values[0] > best):
        return trial.values[0]
    return best


def _metric_names(study: Any) -> list[str]:
    return list(study.metric_names or ["value"] * len(study.directions))


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def tune_view(console: Console, spec: Any, verbosity: int = 0) -> TuneView | TuneLines:
    """The live table on a terminal, plain lines otherwise (``--quiet``: the console prints nothing)."""
    return TuneView(console, spec) if console.is_terminal else TuneLines(console, spec, verbosity)


def print_study_report(report: dict[str, Any], console: Console) -> None:
    """A study's attributes and counts, its best trials (or Pareto front) and the parameter importances,
    as tables."""
    about = table(f"study {report['study']}", ("field", "value"))
    for key, value in {**report["attrs"], **report["counts"]}.items():
        about.add_row(esc(str(key)), esc(str(value)))
    console.print(about)
    title = "Pareto front (val acc up, train time down)" if report["pareto"] else "best trials"
    out = table(title, ("trial", ", ".join(report["metric_names"]), "params", "record"), overflow="fold")
    for t in report["best"]:
        values = ", ".join(f"{v:.3g}" for v in t["values"] or [])
        params = _params_text(t["params"])
        out.add_row(str(t["number"]), esc(values), esc(params), esc(str(t["record"] or "-")))
    console.print(out)
    if report["importances"]:
        weights = table("parameter importances (fANOVA)", ("parameter", "importance"))
        for name, value in report["importances"].items():
            weights.add_row(esc(name), f"{value:.2f}")
        console.print(weights)

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

__all__ = ["RichProgress", "TuneView", "esc", "print_study_report", "run_summary", "table"]


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
        val = f"{row['val_acc']:.2f}%" if row["val_acc"] is not None else "-"
        self.console.print(f"epoch {row['epoch']}: loss {row['train_loss']:.4f}  train {row['train_acc']:.2f}%  "
                           f"val {val}  test {row['test_acc']:.2f}%  ({row['epoch_time_s']:.1f} s)")


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
        if trial.values and (self.best is None or trial.values[0] > self.best):
            self.best = trial.values[0]
        if self._live is not None:
            self._live.update(self.render())


def print_study_report(report: dict[str, Any], console: Console) -> None:
    """A study's counts, its best trials (or Pareto front) and the parameter importances."""
    counts = ", ".join(f"{k} {v}" for k, v in report["counts"].items())
    console.print(f"study [bold]{esc(str(report['study']))}[/] ({esc(str(report['attrs']))}): {esc(counts)}")
    title = "Pareto front (val acc up, train time down)" if report["pareto"] else "best trials"
    out = table(title, ("trial", "values", "params", "record"), overflow="fold")
    for t in report["best"]:
        values = ", ".join(f"{v:.3g}" for v in t["values"] or [])
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["params"].items())
        out.add_row(str(t["number"]), esc(values), esc(params), esc(str(t["record"] or "-")))
    console.print(out)
    if report["importances"]:
        console.print("importances: " + esc(", ".join(f"{k} {v:.2f}" for k, v in report["importances"].items())))

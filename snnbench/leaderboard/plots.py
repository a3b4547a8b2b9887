"""The leaderboard's figures, drawn so they do not mislead: one colour per method in every figure; T
axes with ticks at the T values used (log₂ spacing, plain numbers); time axes per device (never a CPU
and a GPU on one axis or one Pareto front); per-epoch curves as mean ± band over seeds; firing
histograms titled with the row's setting and layers named from the architecture notation; legends
outside the data; accuracy against evaluation T where records carry it (``snnbench eval --steps``)."""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snnbench.records import Record

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f")


def method_colour(method: str) -> str:
    """A fixed colour per registered method (sorted by name), the same in every figure and page."""
    from snnbench.registry import method_names

    names = sorted(set(method_names()) | {method})
    return PALETTE[names.index(method) % len(PALETTE)]


@dataclass
class Figure:
    """A written figure, the dataset it belongs to and its caption (the rows it shows)."""

    path: Path
    dataset: str
    caption: str
    run_id: str = ""  # the run a per-row figure shows (its row links to it)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points (cost, accuracy) not beaten by another with less or equal cost and more or equal accuracy."""
    front, best = [], -math.inf
    for cost, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((cost, acc))
            best = acc
    return front


def safe_file(name: str) -> str:
    """A file name that stays inside its folder whatever a record's names hold."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    return safe or "unnamed"


def layer_names(record: Record) -> dict[str, str]:
    """Monitor names (``layers.3``) → the architecture's tokens (``15C5``, ``P2``, ``300``, ``output``),
    matched in order over the spiking layers of the record."""
    tokens = [t for t in str(record.arch_resolved or record.arch).split("-") if t]
    names = list(record.firing)
    spiking_tokens = [t for t in tokens if not t.startswith("D")]
    if len(names) == len(spiking_tokens) + 1:
        spiking_tokens.append("output")
    if len(names) != len(spiking_tokens):
        return {n: n for n in names}
    return dict(zip(names, spiking_tokens, strict=True))


LABEL_CHARS = 48  # a legend entry longer than this squeezes the axes; the table has the whole setting


def row_label(row: Any) -> str:
    label = f"{row.method} {row.arch}" + (f" [{row.options}]" if row.options else "") + f", T={row.steps}"
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"


def plot_all(rows: list[Any], records: list[tuple[Path, Record]], out: Path) -> list[Figure]:
    """Every figure of the leaderboard into ``out``; figures of rows that no longer exist are removed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out.mkdir(parents=True, exist_ok=True)
    from .standings import standings_tables

    by_run = {str(p): r for p, r in records}
    figures: list[Figure] = []
    tables = standings_tables(rows)
    for table in tables:
        figure = _budget_curves(plt, table, by_run, out)
        if figure is not None:
            figures.append(figure)
    for dataset in sorted({r.dataset for r in rows}):
        ranked = [row for t in tables if t.dataset == dataset for _, row in t.entries]
        # a dataset with standings plots the standings' rows (one per rule), not every exploration
        subset = list({id(r): r for r in ranked}.values()) if ranked else [r for r in rows if r.dataset == dataset]
        figures += _dataset_figures(plt, dataset, subset[:MAX_PLOTTED], by_run, out)
    keep = {f.path.name for f in figures}
    for stale in out.glob("*.png"):  # figures of rows that are gone
        if stale.name not in keep:
            stale.unlink()
    return figures


MAX_PLOTTED = 10  # rows per figure: a legend that still reads


def _dataset_figures(plt: Any, dataset: str, subset: list[Any], by_run: dict[str, Record], out: Path
                     ) -> list[Figure]:
    """The figures of one dataset's plotted rows: accuracy against T and against time (per device), the
    curves, the time scaling where recorded, and each row's firing histogram."""
    figures = [_accuracy_vs_t(plt, dataset, subset, out)]
    figures += [_accuracy_vs_time(plt, dataset, device, [r for r in subset if r.device == device], out)
                for device in sorted({r.device for r in subset})]
    figures.append(_curves(plt, dataset, subset, by_run, out))
    figures.append(_time_scaling(plt, dataset, subset, by_run, out))
    for row in subset:
        best = max(row.runs, key=lambda run: by_run[run].results.test_acc_at_best_val or 0)
        figures.append(_firing(plt, row, by_run[best], out))
    return [f for f in figures if f is not None]


def _budget_curves(plt: Any, table: Any, by_run: dict[str, Record], out: Path) -> Figure | None:
    """Validation accuracy against cost (training samples seen, CPU seconds) at each budget point, mean over
    seeds, one line per rule of a standings table; None when its runs have no budget curve."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    drawn = 0
    for _standing, row in table.entries:
        curves = [(by_run[run].budget or {}).get("points") or [] for run in row.runs]
        curves = [c for c in curves if c]
        if not curves:
            continue
        points = min(len(c) for c in curves)
        accuracy = [statistics.fmean(c[i]["val_acc"] or 0.0 for c in curves) for i in range(points)]
        for ax, key in zip(axes, ("samples", "cpu_s"), strict=True):
            ax.plot([statistics.fmean(c[i][key] for c in curves) for i in range(points)], accuracy, marker=".",
                    lw=1.3, color=method_colour(row.method), label=f"{row.method} (n={len(curves)})")
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    for ax, label in zip(axes, ("training samples seen", "CPU seconds in training steps"), strict=True):
        ax.set(xlabel=label, ylabel="validation accuracy (%)", xscale="log")
        ax.set_ylim(top=100)
    axes[0].set_title(f"{table.dataset}: accuracy against cost", fontsize=10)
    axes[1].set_title(f"suite {table.suite}, {table.budget}", fontsize=10)
    _legend_outside(axes[1])
    fig.tight_layout()
    path = _save(fig, out / safe_file(f"{table.dataset}-{table.suite}-{table.budget}-budget-curves.png"))
    return Figure(path, table.dataset, f"{table.dataset}, suite {table.suite} at {table.budget}: validation accuracy "
                                       "against training samples and CPU time at the budget's 10 evaluation points, "
                                       "mean over seeds")


def _legend_outside(ax: Any) -> None:
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, frameon=False)


def _t_axis(ax: Any, values: list[int]) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log", base=2)
    ticks = sorted(set(values))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(t) for t in ticks])
    if len(ticks) == 1:
        ax.set_xlim(ticks[0] / 2, ticks[0] * 2)


def _accuracy_vs_t(plt: Any, dataset: str, rows: list[Any], out: Path) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for row in rows:
        ax.errorbar([row.steps], [row.mean], yerr=[row.std], marker="o", capsize=3, color=method_colour(row.method),
                    label=f"{row_label(row)} ({row.device})")
    _t_axis(ax, [r.steps for r in rows])
    ax.set(xlabel="time steps T", ylabel="test accuracy (%)", title=f"{dataset}: accuracy against T")
    _legend_outside(ax)
    fig.tight_layout()
    path = _save(fig, out / safe_file(f"{dataset}-accuracy-vs-T.png"))
    return Figure(path, dataset, f"{dataset}: test accuracy (mean ± std over seeds) against the number of time "
                                 f"steps, one point per row")


def _accuracy_vs_time(plt: Any, dataset: str, device: str, rows: list[Any], out: Path) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    points = []
    for row in rows:
        cost = statistics.fmean(row.train_time_s)
        points.append((cost, row.mean))
        ax.scatter([cost], [row.mean], color=method_colour(row.method), label=row_label(row))
    if len(points) >= 3:  # a front of one or two points says nothing
        front = pareto_front(points)
        ax.plot(*zip(*front, strict=True), "k--", lw=1, label="Pareto front")
    ax.set(xlabel=f"training time per run on {device} (s)", ylabel="test accuracy (%)", xscale="log",
           title=f"{dataset} on {device}: accuracy against training time")
    _legend_outside(ax)
    fig.tight_layout()
    path = _save(fig, out / safe_file(f"{dataset}-{device}-accuracy-vs-time.png"))
    return Figure(path, dataset, f"{dataset}, runs on {device} only: test accuracy against training time per run, "
                                 "with the Pareto front")


def _curves(plt: Any, dataset: str, rows: list[Any], by_run: dict[str, Record], out: Path) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for row in rows:
        curves = [by_run[run].curves for run in row.runs]
        epochs = min(len(c) for c in curves)
        x = list(range(1, epochs + 1))
        per_epoch = [[c[i].test_acc for c in curves] for i in range(epochs)]
        mean = [statistics.fmean(v) for v in per_epoch]
        colour = method_colour(row.method)
        ax.plot(x, mean, lw=1.3, color=colour, label=f"{row_label(row)} (n={len(curves)})")
        if len(curves) > 1:
            spread = [statistics.stdev(v) for v in per_epoch]
            ax.fill_between(x, [m - s for m, s in zip(mean, spread, strict=True)],
                            [m + s for m, s in zip(mean, spread, strict=True)], color=colour, alpha=0.2, lw=0)
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=f"{dataset}: per-epoch test accuracy")
    _legend_outside(ax)
    fig.tight_layout()
    path = _save(fig, out / safe_file(f"{dataset}-curves.png"))
    return Figure(path, dataset, f"{dataset}: per-epoch test accuracy, mean over seeds with a ± std band")


def _time_scaling(plt: Any, dataset: str, rows: list[Any], by_run: dict[str, Record], out: Path) -> Figure | None:
    lines = []
    for row in rows:
        points: dict[int, list[float]] = {}
        for run in row.runs:
            for entry in by_run[run].time_scaling:
                points.setdefault(entry["steps"], []).append(entry["test_acc"])
        if points:
            lines.append((row, sorted(points.items())))
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for row, points in lines:
        ax.plot([t for t, _ in points], [statistics.fmean(v) for _, v in points], marker="o",
                color=method_colour(row.method), label=f"{row_label(row)} (trained at T={row.steps})")
    _t_axis(ax, [t for _, pts in lines for t, _ in pts])
    ax.set(xlabel="evaluation T", ylabel="test accuracy (%)", title=f"{dataset}: accuracy at other T")
    _legend_outside(ax)
    fig.tight_layout()
    path = _save(fig, out / safe_file(f"{dataset}-time-scaling.png"))
    return Figure(path, dataset, f"{dataset}: trained networks evaluated at other numbers of time steps "
                                 "(snnbench eval --steps)")


def _firing(plt: Any, row: Any, record: Record, out: Path) -> Figure | None:
    firing = record.firing
    if not firing:
        return None
    names = layer_names(record)
    fig, (ax_h, ax_s) = plt.subplots(1, 2, figsize=(11, 3.5))
    for name in firing:
        hist = firing[name].get("count_histogram") or []
        ax_h.plot(range(len(hist)), hist, drawstyle="steps-mid", label=names[name])
    ax_h.set(xlabel="spikes per neuron per sample", ylabel="neurons", yscale="log", title="firing counts (test set)")
    _legend_outside(ax_h)
    labels = [names[n] for n in firing]
    zero = [firing[n]["share_zero"] for n in firing]
    once = [firing[n]["share_once"] for n in firing]
    more = [firing[n]["share_more"] for n in firing]
    ax_s.bar(labels, zero, label="silent", color="#bbbbbb")
    ax_s.bar(labels, once, bottom=zero, label="once", color="#6baed6")
    ax_s.bar(labels, more, bottom=[a + b for a, b in zip(zero, once, strict=True)], label="more than once",
             color="#08519c")
    ax_s.set(ylabel="share of neurons", title="silent / once / more (per sample)")
    ax_s.tick_params(axis="x", labelrotation=45, labelsize=7)
    _legend_outside(ax_s)
    fig.suptitle(f"{row.dataset}: {row_label(row)} on {row.device} (seed {record.seed}, its best run)",
                 fontsize=10)
    fig.tight_layout()
    path = _save(fig, out / safe_file(f"{row.dataset}-{record.run_id}-firing.png"))
    return Figure(path, row.dataset, f"firing of {row_label(row)} on {row.device}: run {record.run_id}",
                  record.run_id)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    for ax in fig.axes:  # accuracies never read above 100 %
        if "accuracy" in ax.get_ylabel() and ax.get_ylim()[1] > 100:
            ax.set_ylim(top=100)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

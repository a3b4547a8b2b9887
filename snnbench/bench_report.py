"""``snnbench bench``'s results presented: the table's cells (each rule against its peers and the ANN floor),
the JSON file, and the plot of a T sweep. The measuring is :mod:`snnbench.bench`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from snnbench.bench import BenchResult

PEER_LIBRARIES = ("spikingjelly", "snntorch")  # the peers a rule is held to: the faster of the two


def _cell(value: float | None, spec: str, missing: str = "-") -> str:
    return format(value, spec) if value is not None else missing


def _ratio(value: float | None, ref: float | None) -> str:
    return f"{value / ref:.2f}x" if value and ref else "-"


def result_cells(results: list[BenchResult], peers: list[str]) -> tuple[list[str], list[list[str]]]:
    """The bench table as text cells (headers, rows), one row per (case, T, implementation): eager and graphed
    step times, peak GPU and CPU memory, the step's GFLOP and roofline, the ratio to each spikingjelly
    reference and the ANN floor, and to the faster of spikingjelly and snntorch (``vs best peer``: what the
    rules are held to); eager to eager, graphed to the graphed floor."""
    eager = {(r.impl, r.case, r.steps): r.ms_per_step for r in results if r.ms_per_step}
    floor = {(r.case, r.steps): r.graphed_ms for r in results if r.impl == "ann" and r.graphed_ms}

    def versus(peer: str) -> Callable[[BenchResult], str]:
        return lambda r: _ratio(r.ms_per_step, eager.get((peer, r.case, r.steps)))

    def best_peer(r: BenchResult) -> str:
        times = [eager[key] for key in ((p, r.case, r.steps) for p in PEER_LIBRARIES) if key in eager]
        return _ratio(r.ms_per_step, min(times)) if times and r.impl.startswith("snnbench:") else "-"

    graphed = any(r.graphed_ms is not None for r in results)
    extra = [(f"vs {p}", versus(p)) for p in ("spikingjelly", "spikingjelly-bn", "ann") if p in peers]
    extra += [("vs best peer", best_peer)] if any(p in peers for p in PEER_LIBRARIES) else []
    extra += [("vs ann graphed", lambda r: _ratio(r.graphed_ms, floor.get((r.case, r.steps))))] \
        if graphed and "ann" in peers else []
    headers = ["case", "T", "batch", "implementation", "ms / step", *(["graphed ms"] if graphed else []),
               "peak MiB", "CPU peak MiB", "GFLOP", "roofline", *(name for name, _ in extra)]
    return headers, [_measured_cells(r, graphed) + [cell(r) for _, cell in extra] for r in results]


def _measured_cells(r: BenchResult, graphed: bool) -> list[str]:
    roofline = "-" if r.roofline is None else f"{100 * r.roofline:.1f}%"
    return [r.case, str(r.steps), str(r.batch), r.impl,
            _cell(r.ms_per_step, ".2f", "n/a" if r.note.startswith("ConfigError") else "failed"),
            *([_cell(r.graphed_ms, ".2f")] if graphed else []),
            _cell(r.peak_mib, ".0f"), _cell(r.cpu_peak_mib, ".0f"), _cell(r.gflop, ".3f"), roofline]


def write_results(results: list[BenchResult], path: Path, environment: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"environment": environment, "results": [asdict(r) for r in results]}, indent=1))


def plot_sweep(results: list[BenchResult], path: Path) -> Path | None:
    """ms/step and peak memory against T, one line per implementation (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for impl in sorted({r.impl for r in results}):
        rows = sorted((r for r in results if r.impl == impl and r.ms_per_step is not None), key=lambda r: r.steps)
        axes[0].plot([r.steps for r in rows], [r.ms_per_step for r in rows], marker="o", label=impl)
        if any(r.peak_mib is not None for r in rows):
            axes[1].plot([r.steps for r in rows], [r.peak_mib for r in rows], marker="o", label=impl)
    axes[0].set(xlabel="time steps T", ylabel="ms per training step", xscale="log", yscale="log")
    axes[1].set(xlabel="time steps T", ylabel="peak GPU memory (MiB)", xscale="log")
    axes[0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

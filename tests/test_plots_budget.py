"""The board's figures for budget runs: accuracy against cost from the budget points, legends outside the axes,
accuracy axes capped at 100 %, no Pareto front from fewer than three points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snnbench.leaderboard import build_rows, load_records, plots
from tests.test_reliability import _a_record

pytest.importorskip("matplotlib", reason="matplotlib is not installed")


def _budget_records(folder: Path) -> None:
    for method, base in (("stbp", 80.0), ("tet", 90.0)):
        for seed in (0, 1, 2):
            record = _a_record()
            record["method"], record["seed"] = method, seed
            record["config"].update(seed=seed, budget="cpu_s=30", epochs=1000)
            record["results"]["test_acc_at_best_val"] = base + seed
            record["tags"] = {"suite": "cpu"}
            record["budget"] = {"kind": "cpu_s", "value": 30.0, "stopped_by": "budget",
                                "spent": {"cpu_s": 30.1, "wall_s": 31.0, "samples": 9000, "updates": 300},
                                "points": [{"fraction": f, "epoch": f, "cpu_s": 30 * f, "wall_s": 31 * f,
                                            "samples": int(9000 * f), "updates": int(300 * f),
                                            "val_acc": base * f ** 0.1 + 15, "test_acc": None}
                                           for f in (0.01, 0.1, 0.5, 1.0)]}
            (folder / f"{method}-{seed}.json").write_text(json.dumps(record))


def test_budget_curves_figure_with_its_legend_outside_and_accuracy_capped(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    _budget_records(runs)
    records, skipped = load_records(runs)
    assert not skipped
    rows = build_rows(records, published=[])
    saved: list[tuple[str, list]] = []
    real_save = plots._save

    def keep(fig, path):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = []
        for ax in fig.axes:
            legend = ax.get_legend()
            boxes.append((ax.get_window_extent(renderer), legend.get_window_extent(renderer) if legend else None,
                          ax.get_ylim(), ax.get_ylabel(), [line.get_label() for line in ax.get_lines()]))
        out = real_save(fig, path)
        saved.append((path.name, boxes))
        return out

    monkeypatch.setattr(plots, "_save", keep)
    figures = plots.plot_all(rows, records, tmp_path / "plots")
    budget = [f for f in figures if "budget-curves" in f.path.name]
    assert len(budget) == 1 and budget[0].path.is_file()
    for name, boxes in saved:
        for axes_box, legend_box, ylim, ylabel, _ in boxes:
            if legend_box is not None:
                assert not axes_box.overlaps(legend_box), name  # the legend sits beside the axes
            if "accuracy" in ylabel:
                assert ylim[1] <= 100, name
    time_plot = next(boxes for name, boxes in saved if "accuracy-vs-time" in name)
    assert not any("Pareto" in label for *_, labels in time_plot for label in labels)  # 2 points: no front

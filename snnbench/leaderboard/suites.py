"""The suites' own comparisons, below their leaderboard table in ``snnbench suite report``: each rule's
accuracy within the fastest rule's training time (from the per-epoch curves) and accuracy against the
evaluation T (``snnbench eval --steps``)."""

from __future__ import annotations

from snnbench.records import Curve, Record


def equal_time_table(records: list[Record]) -> str:
    """Per dataset: each rule's mean test accuracy at the last epoch it finished within the training time
    of the fastest rule there (read from the per-epoch curves; no run was stopped by the clock)."""
    by_dataset: dict[str, dict[str, list[Record]]] = {}
    for record in records:
        if record.tags.get("shared_device"):
            continue  # times of runs that shared a device are not comparable
        by_dataset.setdefault(record.dataset, {}).setdefault(record.method, []).append(record)
    lines = ["| dataset | method | time budget (s) | epochs within it | test acc within it (%) |",
             "|---|---|---|---|---|"]
    for dataset, methods in sorted(by_dataset.items()):
        budget = min(sum(r.cost.train_time_s for r in runs) / len(runs) for runs in methods.values())
        for method, runs in sorted(methods.items()):
            within = [_within(record.curves, budget) for record in runs]
            reached = [w for w in within if w is not None]
            epochs = f"{sum(e for e, _ in reached) / len(reached):.1f}" if reached else "0"
            accuracy = f"{sum(a for _, a in reached) / len(reached):.2f}" if reached else "-"
            lines.append(f"| {dataset} | {method} | {budget:.1f} | {epochs} | {accuracy} |")
    return "\n".join(lines) + "\n"


def _within(curves: list[Curve], budget: float) -> tuple[int, float] | None:
    elapsed, last = 0.0, None
    for row in curves:
        elapsed += row.epoch_time_s
        if elapsed > budget * (1 + 1e-9):
            break
        last = (row.epoch, row.test_acc)
    return last


def time_scaling_table(records: list[Record]) -> str:
    """Test accuracy against evaluation T (``snnbench eval --steps``), mean over each rule's runs."""
    cells: dict[tuple[str, str, int], list[float]] = {}
    for record in records:
        for row in record.time_scaling:
            cells.setdefault((record.dataset, record.method, row["steps"]), []).append(row["test_acc"])
    if not cells:
        return ""
    lines = ["| dataset | method | trained T | evaluation T | test acc (%) |", "|---|---|---|---|---|"]
    trained = {(r.dataset, r.method): r.steps for r in records}
    for (dataset, method, steps), values in sorted(cells.items()):
        lines.append(f"| {dataset} | {method} | {trained[(dataset, method)]} | {steps} | "
                     f"{sum(values) / len(values):.2f} |")
    return "\n".join(lines) + "\n"

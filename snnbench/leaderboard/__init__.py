"""``snnbench leaderboard``: aggregate run records into the table a researcher reads.

One row per setting: dataset (its variant named, e.g. ``nmnist-1k``, ``cifar10-jpeg``), method, what
differs from the recipe (``loss=sdt``, ``exact_reset=True``, ``augment=jitter:8``), architecture, T,
epochs, recipe or tuned, and the device (GPU name, else ``cpu``). Runs that differ only in their seed
share a row; anything else (another GPU, another dataset variant, any other config field) never does.

Per row: test accuracy at the best-validation epoch, mean ± std over seeds (n shown) and best, and
the reference codes' convention (the maximum test accuracy over epochs) beside it, labelled as such;
training time per run and per epoch; ms per step; peak GPU memory; parameters; activation sparsity
(1 − the spike rate over all spiking neurons and steps on the test set); the training time to
reach accuracy thresholds (MLPerf-style, from the per-epoch test curve; the mean over the seeds that
reached it, with their count); NeuroBench's effective ACs and MACs per sample and the energy estimate
(:mod:`snnbench.metrics`; records made before it have none); and the published number for the same
method, dataset, network and T (``snnbench/published.json``, shipped with the package, each with its
source). A difference to it is given only when the recipe (including a TIT stage) and options match
and every seed trained at least the published epochs; otherwise the number is context ("budget
differs"). Repeat runs of one seed count once (the latest).

Records that fail the schema or cannot be read are reported with their path and reason and left
out; one bad record never stops the leaderboard. Names from records are checked before they touch
the file system, CSV cells cannot start formulas, and Markdown/HTML output escapes markup.

The package: :mod:`.rows` (records → rows), :mod:`.standings` (the suites' comparisons), :mod:`.columns`
(the one column table every writer reads), :mod:`.published` (paper numbers), :mod:`.suites` (a suite report's
equal-time and time-scaling tables), and the writers
:mod:`.markdown`, :mod:`.page`, :mod:`.plots` and :mod:`.writers` (CSV, JSON, files).
"""

from __future__ import annotations

import importlib
from typing import Any

# name → submodule. Loaded on first use (PEP 562): the CLI reads the column names when it builds its parser,
# and that must not import the rows' dependencies (torch) for every command.
_EXPORTS = {
    "COLUMNS": "columns", "STANDINGS_COLUMNS": "columns", "table_cells": "columns", "to_markdown": "markdown",
    "pareto_front": "plots", "load_context": "published", "load_published": "published",
    "match_published": "published", "Row": "rows", "build_rows": "rows", "load_records": "rows",
    "record_marks": "rows", "record_values": "rows", "unranked_status": "rows", "StandingsTable": "standings",
    "budget_text": "standings", "standing_rank": "standings", "standings_cells": "standings",
    "StandingsMatrix": "standings", "standings_matrices": "standings", "matrix_lines": "markdown",
    "standings_tables": "standings", "numeric_summary": "writers", "to_csv": "writers", "to_html": "writers",
    "to_json": "writers", "write_leaderboard": "writers", "equal_time_table": "suites",
    "time_scaling_table": "suites",
}
__all__ = sorted(_EXPORTS)

def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value

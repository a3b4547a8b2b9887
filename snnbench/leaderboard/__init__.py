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
(the one column table every writer reads), :mod:`.published` (paper numbers), and the writers
:mod:`.markdown`, :mod:`.page`, :mod:`.plots` and :mod:`.writers` (CSV, JSON, files).
"""

from __future__ import annotations

from .columns import COLUMNS, STANDINGS_COLUMNS, table_cells
from .markdown import to_markdown
from .plots import pareto_front
from .published import load_context, load_published, match_published
from .rows import Row, build_rows, load_records, record_marks, record_values, unranked_status
from .standings import StandingsTable, budget_text, standing_rank, standings_cells, standings_tables
from .writers import numeric_summary, to_csv, to_html, to_json, write_leaderboard

__all__ = ["COLUMNS", "STANDINGS_COLUMNS", "Row", "StandingsTable", "budget_text", "build_rows", "load_context",
           "load_published", "load_records", "match_published", "numeric_summary", "pareto_front", "record_marks",
           "record_values", "standing_rank", "standings_cells", "standings_tables", "table_cells", "to_csv",
           "to_html", "to_json", "to_markdown", "unranked_status", "write_leaderboard"]

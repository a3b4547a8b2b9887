"""The leaderboard on a terminal: each suite's standings, then one table of the chosen columns
(:data:`~snnbench.leaderboard.columns.COLUMNS`, shortened where a terminal needs it)."""

from __future__ import annotations

from rich.table import Table

from snnbench.ui import esc, table

from .columns import CONSOLE_COLUMNS, STANDINGS_COLUMNS, table_cells
from .rows import Row
from .standings import budget_text, standings_cells, standings_tables


def console_tables(rows: list[Row], runs: int, columns: tuple[str, ...] | list[str] = CONSOLE_COLUMNS) -> list[Table]:
    """The standings tables of ``rows`` and the table of all rows in ``columns`` (``runs``: records read)."""
    tables = []
    for standing in standings_tables(rows):
        view = table(f"standings: {standing.dataset}, suite {standing.suite}, {budget_text(standing.budget)}",
                     STANDINGS_COLUMNS, overflow="fold")
        for entry, row in standing.entries:
            view.add_row(*(esc(c) for c in standings_cells(entry, row)))
        tables.append(view)
    out = table(f"snnbench leaderboard ({runs} runs)", list(columns), overflow="fold")
    for row in rows:
        cells = dict(zip(columns, table_cells(row, tuple(columns)), strict=True))
        if "published" in cells:
            cells["published"] = cells["published"].split(" (")[0]
        if "device" in cells:
            cells["device"] = cells["device"].removeprefix("NVIDIA ").split(" ")[0]  # "H100", "cpu"
        out.add_row(*(esc(cells[c]) for c in columns))
    tables.append(out)
    return tables


__all__ = ["console_tables"]

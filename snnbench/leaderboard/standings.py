"""The comparisons a researcher reads first: per declared suite, dataset and budget, the rules ranked
against the best (:mod:`snnbench.stats`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .rows import Row, _mean


@dataclass
class StandingsTable:
    """One comparison a researcher reads first: the rules of one declared suite on one dataset at one budget
    (a compute budget, or "N epochs"), one row per rule with its statistics (:mod:`snnbench.stats`)."""

    dataset: str
    suite: str
    budget: str
    entries: list[tuple[Any, Row]]  # (snnbench.stats.Standing, its row), best first


def standings_tables(rows: list[Row]) -> list[StandingsTable]:
    """Per dataset, suite and budget: the suite's rules ranked, each against the best (Welch, Holm). Only rows
    of a declared suite count (exploratory runs stay in "all runs"); a rule with several rows there keeps
    the one with the most seeds."""
    from snnbench.stats import standings

    groups: dict[tuple[str, str, str], dict[str, Row]] = {}
    for row in rows:
        if not row.suite or "tuned" in row.marks:
            continue
        label = row.budget or f"{row.epochs} epochs"
        chosen = groups.setdefault((row.dataset, row.suite, label), {})
        if row.method not in chosen or len(row.seeds) > len(chosen[row.method].seeds):
            chosen[row.method] = row
    tables = []
    for (dataset, suite, label), by_method in sorted(groups.items()):
        if sum(len(r.seeds) >= 2 for r in by_method.values()) < 2:
            continue  # a comparison needs at least two rules with two seeds (the smoke suite has one)
        ranked = standings({m: r.accuracies for m, r in by_method.items()})
        tables.append(StandingsTable(dataset, suite, label, [(s, by_method[s.name]) for s in ranked]))
    return tables


@dataclass
class StandingsMatrix:
    """The answer at a glance: one suite's rules (rows) against its datasets at their budgets (columns), on
    one machine (a CPU class, a GPU) or in epochs; each cell a rule's mean ± 95 % CI and its rank."""

    suite: str
    machine: str  # "" for epoch budgets
    columns: list[StandingsTable]
    rules: list[str]  # by their mean rank over the columns, best first

    def cell(self, rule: str, table: StandingsTable) -> str:
        """``98.20 ± 0.25 (1)``, ``92.10 ± 2.03 (=1)``, ``67.57 ± 3.85`` (below the best), ``-`` (not run)."""
        for standing, _row in table.entries:
            if standing.name == rule:
                rank = standing_rank(standing)
                return mean_ci_text(standing) + (f" ({rank})" if rank else "")
        return "-"


def standings_matrices(tables: list[StandingsTable]) -> list[StandingsMatrix]:
    """The standings tables gathered per suite and machine (``cpu_s=30 on <CPU class>`` and ``cpu_s=120 on
    <CPU class>`` share a matrix; epoch budgets have theirs, after the compute budgets); datasets in name
    order."""
    groups: dict[tuple[str, str], list[StandingsTable]] = {}
    for table in tables:
        machine = table.budget.partition(" on ")[2]
        groups.setdefault((table.suite, machine), []).append(table)
    matrices = []
    for (suite, machine), columns in sorted(groups.items(), key=lambda g: (g[0][0], not g[0][1], g[0][1])):
        columns = sorted(columns, key=lambda t: (t.dataset, t.budget))
        positions: dict[str, list[int]] = {}
        for table in columns:
            for position, (standing, _row) in enumerate(table.entries):
                positions.setdefault(standing.name, []).append(position)
        rules = sorted(positions, key=lambda r: (sum(positions[r]) / len(positions[r]), -len(positions[r]), r))
        matrices.append(StandingsMatrix(suite, machine, columns, rules))
    return matrices


def standings_cells(standing: Any, row: Row) -> list[str]:
    """The cells of one standings row (console, Markdown and page print these)."""
    if standing.best:
        versus = "best"
    elif standing.p_holm is None:
        versus = "not tested (n=1)"
    else:
        versus = ("≈ best" if standing.tied_with_best else "below") + f" (p={standing.p_holm:.3f})"
    samples = _mean(row.samples, 0)
    speed = (round(sum(row.samples) / sum(row.cpu_s)) if row.cpu_s and sum(row.cpu_s) > 0 else None)
    energy = _mean([e / 1000 for e in row.energy_pj], 1)
    notes = ", ".join(sorted(m for m in row.marks if m != "shared")) or "-"
    epochs = f"{_mean([float(e) for e in row.epoch_counts], 1)}" if row.epoch_counts else str(row.epochs)
    return [str(standing_rank(standing)), row.method, str(standing.n), mean_ci_text(standing), versus, epochs,
            "-" if samples is None else f"{samples:,.0f}", "-" if speed is None else f"{speed:,}",
            "-" if energy is None else str(energy), notes]


def mean_ci_text(standing: Any) -> str:
    """``98.20 ± 0.25``, or ``95.00 (n=1)`` for one seed (no interval)."""
    ci = f" ± {standing.ci:.2f}" if standing.ci is not None else " (n=1)"
    return f"{standing.mean:.2f}{ci}"


def standing_rank(standing: Any) -> str:
    """``1`` for the best, ``=1`` for a rule tested and not distinguishable from it; nothing for the rest,
    and nothing for a rule with one seed (untested: its column says so; it is not ranked beside the best)."""
    if standing.best:
        return "1"
    return "=1" if standing.tied_with_best and standing.p_holm is not None else ""


def budget_text(budget: str) -> str:
    """``cpu_s=30 on CPU`` → "budget 30 s of CPU time in training steps (one thread) on CPU"; ``40 epochs``
    stays as it is."""
    spec, _, machine = budget.partition(" on ")
    kind, _, value = spec.partition("=")
    threads = ""
    if machine.endswith(" threads"):  # "<name>, family F model M, 2 threads": the class holds a comma too
        machine, _, threads = machine.rpartition(", ")
    words = {"cpu_s": "{} s of CPU time in training steps (" + (threads or "one thread") + ")",
             "wall_s": "{} s of wall time", "samples": "{} training samples", "updates": "{} optimiser steps"}
    if kind not in words:
        return budget
    return f"budget {words[kind].format(value)}" + (f" on {machine}" if machine else "")


__all__ = ["StandingsMatrix", "StandingsTable", "budget_text", "mean_ci_text", "standing_rank", "standings_cells",
           "standings_matrices", "standings_tables"]

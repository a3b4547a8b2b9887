"""Compute budgets: a run that stops at a fixed cost instead of (or before) a number of epochs.

A budget is one ``kind=value`` pair (``RunConfig.budget``, ``--budget``):

- ``cpu_s``: seconds of the worker's own CPU time spent in training steps (``time.process_time``: the
  CPU time of this process, all its threads; with ``--threads 1`` it is the one thread's). Other load on
  the machine does not change it, so a CPU track run on a busy machine still spends what it says.
- ``wall_s``: seconds of wall time in training steps (for an exclusive device, a GPU).
- ``samples``: training samples seen; ``updates``: optimiser steps. Both are exact and deterministic.

Evaluation never counts against a budget. The run stops after the step that reaches the budget (in the
middle of an epoch if need be), evaluates and records ``budget.stopped_by``. On the way, it evaluates
the validation split at :data:`POINTS` log-spaced fractions of the budget (1 % … 100 %), so every record
has an accuracy-against-cost curve even when the budget is less than an epoch. ``epochs`` stays the
upper bound. The spent budget is saved in every checkpoint, so a resumed run keeps it.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

LONG_RUN_S = 3600.0  # a run whose training is projected to take longer logs its estimate first
ESTIMATE_STEPS = 5  # steps timed for that estimate (after the first, which pays for the warm-up)
log = logging.getLogger("snnbench.engine")

BUDGET_KINDS = ("cpu_s", "wall_s", "samples", "updates")
INTEGER_KINDS = ("samples", "updates")
POINTS = 10  # evaluation points per budget (log-spaced fractions, the last at the budget itself)
FIRST_FRACTION = 0.01
_PATTERN = re.compile(r"(cpu_s|wall_s|samples|updates)=(\d+(?:\.\d+)?)")


class BudgetError(ValueError):
    """A budget that is not ``kind=value`` with a known kind and a positive value."""


@dataclass(frozen=True)
class Budget:
    """A parsed budget: what is counted (``kind``) and how much may be spent (``value``)."""

    kind: str
    value: float

    def __str__(self) -> str:
        value = int(self.value) if self.value == int(self.value) else self.value
        return f"{self.kind}={value}"

    def fractions(self, points: int = POINTS) -> list[float]:
        """The log-spaced fractions of the budget at which the run evaluates (the last is 1)."""
        if points == 1:
            return [1.0]
        ratio = (1.0 / FIRST_FRACTION) ** (1.0 / (points - 1))
        return [round(FIRST_FRACTION * ratio**i, 6) for i in range(points - 1)] + [1.0]


def parse_budget(text: str) -> Budget | None:
    """``"cpu_s=600"`` → :class:`Budget`; ``""`` → None (epochs only). Raises :class:`BudgetError` naming
    the bad text and the valid forms."""
    if text in ("", "none"):
        return None
    match = _PATTERN.fullmatch(text.strip())
    if match is None:
        raise BudgetError(f"budget={text!r} is not valid; use KIND=VALUE with KIND one of "
                          f"{', '.join(BUDGET_KINDS)} (e.g. cpu_s=600, samples=50000), or none")
    kind, value = match.group(1), float(match.group(2))
    if value <= 0:
        raise BudgetError(f"budget={text!r}: the value must be > 0")
    if kind in INTEGER_KINDS and value != int(value):
        raise BudgetError(f"budget={text!r}: {kind} is a count; give a whole number")
    return Budget(kind, value)


@dataclass
class Spent:
    """What training has spent so far (plain numbers, saved in checkpoints)."""

    cpu_s: float = 0.0
    wall_s: float = 0.0
    samples: int = 0
    updates: int = 0

    def of(self, kind: str) -> float:
        return float(getattr(self, kind))

    def as_dict(self) -> dict[str, Any]:
        return {"cpu_s": self.cpu_s, "wall_s": self.wall_s, "samples": self.samples, "updates": self.updates}


@dataclass
class Meter:
    """Counts every training step's cost and says when the next evaluation point or the end is reached.

    ``spent`` and ``next_point`` come from the checkpoint on resume. Without a budget it only counts.
    """

    budget: Budget | None
    spent: Spent = field(default_factory=Spent)
    next_point: int = 0  # index into the budget's fractions of the next evaluation point
    points: int = POINTS
    _cpu0: float = 0.0
    _wall0: float = 0.0

    def start_step(self) -> None:
        self._cpu0, self._wall0 = time.process_time(), time.perf_counter()

    def end_step(self, samples: int) -> None:
        self.spent.cpu_s += time.process_time() - self._cpu0
        self.spent.wall_s += time.perf_counter() - self._wall0
        self.spent.samples += samples
        self.spent.updates += 1

    @property
    def exhausted(self) -> bool:
        return self.budget is not None and self.spent.of(self.budget.kind) >= self.budget.value

    def due_points(self) -> list[float]:
        """The fractions reached since the last call (each reported once; the last, 1, when exhausted)."""
        if self.budget is None:
            return []
        fractions = self.budget.fractions(self.points)
        used = self.spent.of(self.budget.kind) / self.budget.value
        due = []
        while self.next_point < len(fractions) and (used >= fractions[self.next_point] or
                                                    (self.next_point == len(fractions) - 1 and self.exhausted)):
            due.append(fractions[self.next_point])
            self.next_point += 1
        return due


def projected_train_s(budget: Budget | None, spent: Spent, step_wall_s: float, step_cpu_s: float,
                      batch: int, steps_left: int) -> float:
    """Seconds of training a run has left: ``steps_left`` steps of ``step_wall_s`` each, or fewer where
    its budget ends first (a CPU-time budget converts through the steps' CPU-to-wall ratio)."""
    total = steps_left * step_wall_s
    if budget is None:
        return total
    left = max(budget.value - spent.of(budget.kind), 0.0)
    by_budget = {"wall_s": left,
                 "cpu_s": left * step_wall_s / max(step_cpu_s, 1e-9),
                 "samples": math.ceil(left / max(batch, 1)) * step_wall_s,
                 "updates": left * step_wall_s}[budget.kind]
    return min(total, by_budget)


class Estimate:
    """Times a fit's first steps and, when its training is projected to take longer than
    :data:`LONG_RUN_S` on this device, logs the estimate once (the run continues)."""

    def __init__(self, cfg: Any, device: Any, active: bool = True) -> None:
        self.cfg, self.device, self.done, self.steps = cfg, device, not active, 0
        self.mark: tuple[float, float] | None = None

    def step(self, meter: Meter, epoch: int, number: int, batches: int, batch: int) -> None:
        """After step ``number`` of ``batches`` in ``epoch`` (0-based), of ``batch`` samples."""
        if self.done:
            return
        if self.mark is None:  # the first step: warm-up, not timed
            self.mark = (meter.spent.wall_s, meter.spent.cpu_s)
            return
        self.steps += 1
        if self.steps < ESTIMATE_STEPS:
            return
        self.done = True
        wall = (meter.spent.wall_s - self.mark[0]) / self.steps
        cpu = (meter.spent.cpu_s - self.mark[1]) / self.steps
        cfg = self.cfg
        steps_left = (batches - number) + batches * (cfg.epochs - epoch - 1)
        seconds = projected_train_s(meter.budget, meter.spent, wall, cpu, batch, steps_left)
        if seconds >= LONG_RUN_S:
            limit = f"budget {meter.budget}" if meter.budget is not None else f"{cfg.epochs} epochs"
            log.warning("estimate: training takes about %s on %s (%.3g s a step, timed over %d steps; %s); "
                        "continuing. For a shorter run pass --epochs N or --budget cpu_s=SECONDS",
                        duration_text(seconds), self.device, wall, self.steps, limit)


def duration_text(seconds: float) -> str:
    """``5400`` → ``"1.5 h"``; minutes under an hour, seconds under a minute."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"

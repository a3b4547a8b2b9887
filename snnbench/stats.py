"""The statistics the board and ``suite report`` print: a mean with its 95 % confidence interval over seeds
(Student's t with n − 1 degrees of freedom), Welch's two-sample t-test of each rule against the best one,
and Holm's step-down correction over the comparisons of one dataset and budget.

A rule is *not distinguishable from the best* when its Holm-adjusted p-value is at least ``alpha``
(0.05): with three seeds, only large or very consistent differences separate.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

ALPHA = 0.05


def t_quantile(probability: float, df: float) -> float:
    """The ``probability`` quantile of Student's t with ``df`` degrees of freedom (``scipy.stats.t.ppf``'s
    function, from ``scipy.special``: the same number without importing ``scipy.stats``)."""
    from scipy.special import stdtrit

    return float(stdtrit(df, probability))


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float | None]:
    """``(mean, half-width)`` of the ``level`` confidence interval of the mean (t, n − 1 df); the half-width
    is None for a single value (no interval from one seed)."""
    if not values:
        raise ValueError("mean_ci needs at least one value")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    sem = statistics.stdev(values) / math.sqrt(len(values))
    return mean, t_quantile(0.5 + level / 2, len(values) - 1) * sem


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test of two samples: statistic, Welch–Satterthwaite df, two-sided p."""

    t: float
    df: float
    p: float


def welch(a: Sequence[float], b: Sequence[float]) -> Welch:
    """Two-sided Welch t-test of the means of ``a`` and ``b`` (each at least two values). Two samples without
    spread are equal (p = 1) or differ (p = 0)."""
    from scipy.special import stdtr  # scipy.stats.t.sf(x, df) is stdtr(df, -x)

    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Welch's test needs at least two values per sample, got {len(a)} and {len(b)}")
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = statistics.fmean(a) - statistics.fmean(b)
    if va + vb == 0:
        return Welch(math.copysign(math.inf, diff) if diff else 0.0, math.inf, 0.0 if diff else 1.0)
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return Welch(t, df, float(2 * stdtr(df, -abs(t))))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given; monotone, capped at 1)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [1.0] * len(pvalues)
    running = 0.0
    m = len(pvalues)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Standing:
    """One rule in a comparison: its mean and CI, and how it compares with the best rule."""

    name: str
    n: int
    mean: float
    ci: float | None
    best: bool
    p_holm: float | None  # None for the best rule, or when a test is impossible (fewer than two seeds)
    tied_with_best: bool  # not distinguishable from the best at ALPHA (the best itself: True)


def standings(samples: dict[str, Sequence[float]], alpha: float = ALPHA) -> list[Standing]:
    """Rank named samples by mean; test each against the best (Welch, Holm-corrected over the tests made).
    A rule with one seed cannot be tested: it is never called distinguishable (``tied_with_best`` True,
    ``p_holm`` None), so one lucky or unlucky seed decides nothing."""
    if not samples:
        return []
    ranked = sorted(samples, key=lambda k: -statistics.fmean(samples[k]))
    best = ranked[0]
    tested = [k for k in ranked[1:] if len(samples[k]) >= 2 and len(samples[best]) >= 2]
    adjusted = dict(zip(tested, holm([welch(samples[k], samples[best]).p for k in tested]), strict=True))
    out = []
    for name in ranked:
        mean, ci = mean_ci(samples[name])
        p = adjusted.get(name)
        out.append(Standing(name, len(samples[name]), mean, ci, name == best, p,
                            name == best or p is None or p >= alpha))
    return out


__all__ = ["ALPHA", "Standing", "Welch", "holm", "mean_ci", "standings", "t_quantile", "welch"]

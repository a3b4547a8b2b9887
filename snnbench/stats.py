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


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes §6.4)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                          -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return h


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), for 0 ≤ x ≤ 1."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom (``scipy.stats.t.sf``, to ~1e-14)."""
    if math.isinf(df):
        return 0.5 * math.erfc(t / math.sqrt(2.0))
    tail = 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))  # P(T > |t|)
    return tail if t >= 0 else 1.0 - tail


def t_quantile(probability: float, df: float) -> float:
    """The ``probability`` quantile of Student's t with ``df`` degrees of freedom (``scipy.stats.t.ppf``, to
    ~1e-12), by bisection on :func:`t_sf`: pure Python, so the board needs no scipy (its import alone took
    longer than building the whole board)."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {probability}")
    if probability < 0.5:
        return -t_quantile(1.0 - probability, df)
    tail = 1.0 - probability
    low, high = 0.0, 1.0
    while t_sf(high, df) > tail:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        low, high = (middle, high) if t_sf(middle, df) > tail else (low, middle)
    return 0.5 * (low + high)


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
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Welch's test needs at least two values per sample, got {len(a)} and {len(b)}")
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = statistics.fmean(a) - statistics.fmean(b)
    if va + vb == 0:
        return Welch(math.copysign(math.inf, diff) if diff else 0.0, math.inf, 0.0 if diff else 1.0)
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return Welch(t, df, min(1.0, 2 * t_sf(abs(t), df)))


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

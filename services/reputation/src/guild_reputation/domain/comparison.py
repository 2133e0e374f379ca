"""Pilot against control: differences of two groups' figures with 95 % confidence intervals.

- Proportions (participation, questions answered): Newcombe's hybrid score interval for the difference of
  two independent proportions (Newcombe 1998, method 10), built from the two Wilson score intervals. It
  keeps inside [-1, 1] and behaves at 0 % and 100 %, where the normal-approximation (Wald) interval does not.
- Medians (time to first answer): a percentile bootstrap of the difference of the two medians, resampling
  each group independently, with a fixed seed and a bounded number of resamples over bounded samples, so the
  same data always give the same interval.

Both assume the two groups are independent samples; the comparison is observational, not proof of cause.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

# The 97.5th percentile of the standard normal distribution: two-sided 95 %.
Z_95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20260
# Most values of one group a bootstrap resamples; larger samples are thinned evenly to it.
BOOTSTRAP_SAMPLE_MAX = 1000


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Difference:
    """The pilot's value, the control's, pilot minus control, and its 95 % interval (None when either group
    has nothing to measure), with the sizes of the two samples."""

    pilot: float
    control: float
    difference: float
    interval: Interval | None
    pilot_n: int
    control_n: int


def wilson(successes: int, n: int, z: float = Z_95) -> Interval:
    """Wilson score interval of the proportion ``successes / n``."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = successes / n
    denominator = 1 + z * z / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator))


def newcombe(x1: int, n1: int, x2: int, n2: int, z: float = Z_95) -> Interval:
    """Newcombe's hybrid score interval of ``x1/n1 - x2/n2``."""
    p1, p2 = x1 / n1, x2 / n2
    a, b = wilson(x1, n1, z), wilson(x2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2)
    high = d + math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2)
    return Interval(max(-1.0, low), min(1.0, high))


def wald(x1: int, n1: int, x2: int, n2: int, z: float = Z_95) -> Interval:
    """The normal-approximation interval of ``x1/n1 - x2/n2`` (for reference; Newcombe's is served)."""
    p1, p2 = x1 / n1, x2 / n2
    half = z * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return Interval(p1 - p2 - half, p1 - p2 + half)


def compare_proportions(x1: int, n1: int, x2: int, n2: int) -> Difference:
    """Pilot ``x1`` of ``n1`` against control ``x2`` of ``n2``, in percent (0 to 100)."""
    pct1 = 100 * x1 / n1 if n1 else 0.0
    pct2 = 100 * x2 / n2 if n2 else 0.0
    interval = None
    if n1 and n2:
        raw = newcombe(x1, n1, x2, n2)
        interval = Interval(100 * raw.low, 100 * raw.high)
    return Difference(pct1, pct2, pct1 - pct2, interval, n1, n2)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def thinned(values: Sequence[float], limit: int = BOOTSTRAP_SAMPLE_MAX) -> list[float]:
    """At most ``limit`` of ``values``, taken evenly over their sorted order (keeps the distribution)."""
    ordered = sorted(values)
    if len(ordered) <= limit:
        return ordered
    step = len(ordered) / limit
    return [ordered[int(i * step)] for i in range(limit)]


def bootstrap_median_difference(
    pilot: Sequence[float],
    control: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Interval:
    """Percentile bootstrap 95 % interval of ``median(pilot) - median(control)``."""
    if not pilot or not control:
        raise ValueError("both samples must be non-empty")
    rng = random.Random(seed)
    a, b = thinned(pilot), thinned(control)
    differences = sorted(
        median(rng.choices(a, k=len(a))) - median(rng.choices(b, k=len(b))) for _ in range(resamples)
    )
    low = differences[math.floor(0.025 * (resamples - 1))]
    high = differences[math.ceil(0.975 * (resamples - 1))]
    return Interval(low, high)


def compare_medians(pilot: Sequence[float], control: Sequence[float]) -> Difference:
    """Median of ``pilot`` against median of ``control`` (0 for an empty group, without an interval)."""
    m1 = median(pilot) if pilot else 0.0
    m2 = median(control) if control else 0.0
    interval = bootstrap_median_difference(pilot, control) if pilot and control else None
    return Difference(m1, m2, m1 - m2, interval, len(pilot), len(control))

"""Differences of proportions and medians with their 95 % intervals, against published values."""

from __future__ import annotations

import pytest

from guild_reputation.domain.comparison import (
    bootstrap_median_difference,
    compare_medians,
    compare_proportions,
    newcombe,
    thinned,
    wald,
    wilson,
)

# Newcombe, R. G. (1998) "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Statistics in Medicine 17, 873-890, Table II, method 10.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0)),
]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_TABLE_II)
def test_newcombe_hybrid_score_interval_matches_the_published_table(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    interval = newcombe(*counts)
    assert (round(interval.low, 4), round(interval.high, 4)) == expected


def test_wilson_and_wald_intervals_match_hand_computed_values() -> None:
    # Newcombe (1998) "Two-sided confidence intervals for the single proportion", 81/263: 0.2553-0.3662.
    interval = wilson(81, 263)
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.2553, 0.3662)
    # 0.8 - 0.6 -/+ 1.96 * sqrt(0.8*0.2/70 + 0.6*0.4/80) = 0.2 -/+ 0.1425.
    interval = wald(56, 70, 48, 80)
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.0575, 0.3425)
    assert wilson(0, 10).low == 0.0


def test_proportions_are_compared_in_percent_with_sample_sizes() -> None:
    compared = compare_proportions(56, 70, 48, 80)
    assert (compared.pilot, compared.control) == pytest.approx((80.0, 60.0))
    assert compared.difference == pytest.approx(20.0)
    assert compared.interval is not None
    assert (round(compared.interval.low, 2), round(compared.interval.high, 2)) == (5.24, 33.39)
    assert not compared.interval.contains(0.0)
    assert (compared.pilot_n, compared.control_n) == (70, 80)
    empty = compare_proportions(3, 10, 0, 0)
    assert (empty.pilot, empty.control, empty.interval) == (30.0, 0.0, None)


def test_the_median_bootstrap_is_repeatable_and_brackets_the_difference() -> None:
    pilot = [float(v) for v in range(100, 200)]  # median 149.5
    control = [float(v) for v in range(300, 400)]  # median 349.5
    first = bootstrap_median_difference(pilot, control)
    assert first == bootstrap_median_difference(pilot, control)
    assert first.contains(-200.0)
    assert not first.contains(0.0)
    # Two samples from the same values: the interval holds 0.
    same = compare_medians(pilot, list(reversed(pilot)))
    assert same.difference == 0.0
    assert same.interval is not None
    assert same.interval.contains(0.0)
    compared = compare_medians([60.0, 120.0, 180.0], [])
    assert (compared.pilot, compared.control, compared.interval) == (120.0, 0.0, None)
    assert (compared.pilot_n, compared.control_n) == (3, 0)


def test_large_samples_are_thinned_evenly() -> None:
    values = [float(v) for v in range(10_000)]
    kept = thinned(values, 1000)
    assert len(kept) == 1000
    assert kept[0] == 0.0
    assert kept[500] == 5000.0
    assert thinned([3.0, 1.0], 1000) == [1.0, 3.0]

"""A pilot community beside its control group: the samples of each group and the metrics compared."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from guild_reputation.domain.comparison import Difference, compare_medians, compare_proportions

# The longest period compared.
MAX_PERIOD_DAYS = 366


class ComparisonMetric(StrEnum):
    PARTICIPATION_PCT = "participation_pct"
    QUESTIONS_ANSWERED_PCT = "questions_answered_pct"
    MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS = "median_time_to_first_answer_seconds"


class IntervalMethod(StrEnum):
    NEWCOMBE = "newcombe_hybrid_score"
    BOOTSTRAP = "bootstrap_percentile"


@dataclass(frozen=True)
class PilotControl:
    """The control of a pilot: a community, or a list of people (exactly one is set)."""

    community_id: str
    control_community_id: str
    control_member_ids: tuple[str, ...]
    version: int

    @property
    def is_set(self) -> bool:
        return bool(self.control_community_id or self.control_member_ids)


@dataclass(frozen=True)
class GroupSample:
    """What one group did in the period: its members, those of them active, and each question's seconds to
    its first answer (None when unanswered)."""

    members: int
    active: int
    answer_seconds: list[float | None]


@dataclass(frozen=True)
class MetricComparison:
    metric: ComparisonMetric
    method: IntervalMethod
    difference: Difference


@dataclass(frozen=True)
class PilotComparison:
    community_id: str
    control_community_id: str
    control_member_count: int
    start: datetime
    end: datetime
    metrics: list[MetricComparison]


def compare_groups(pilot: GroupSample, control: GroupSample) -> list[MetricComparison]:
    """Participation and answered share as differences of proportions; time to first answer as a
    difference of medians."""

    def answered(sample: GroupSample) -> list[float]:
        return [s for s in sample.answer_seconds if s is not None]

    pilot_answered, control_answered = answered(pilot), answered(control)
    return [
        MetricComparison(
            ComparisonMetric.PARTICIPATION_PCT,
            IntervalMethod.NEWCOMBE,
            compare_proportions(pilot.active, pilot.members, control.active, control.members),
        ),
        MetricComparison(
            ComparisonMetric.QUESTIONS_ANSWERED_PCT,
            IntervalMethod.NEWCOMBE,
            compare_proportions(
                len(pilot_answered),
                len(pilot.answer_seconds),
                len(control_answered),
                len(control.answer_seconds),
            ),
        ),
        MetricComparison(
            ComparisonMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS,
            IntervalMethod.BOOTSTRAP,
            compare_medians(pilot_answered, control_answered),
        ),
    ]

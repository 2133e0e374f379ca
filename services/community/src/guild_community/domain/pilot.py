"""A pilot's control group, and the pilot's figures beside the control's as reputation measures them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from guild_common.errors import Validator

MAX_CONTROL_MEMBERS = 10_000
# A control list of fewer people would let any pilot member read a few colleagues' activity off the
# comparison (the figures are aggregates of the list).
MIN_CONTROL_MEMBERS = 5
MAX_MEMBER_ID_LENGTH = 128
# The ids together, in UTF-8 bytes: the pilot_control_set event carrying them fits one NATS message (1 MB).
MAX_CONTROL_BYTES = 600_000


@dataclass(frozen=True)
class PilotControl:
    """The group a community is compared against: another community, or a list of people (sorted, without
    duplicates). Neither set means no control. ``version`` counts the changes of the community's control."""

    community_id: str
    control_community_id: str
    control_member_ids: tuple[str, ...]
    set_by: str
    set_time: datetime
    version: int = 0

    @property
    def is_set(self) -> bool:
        return bool(self.control_community_id or self.control_member_ids)

    @classmethod
    def named(
        cls,
        *,
        community_id: str,
        control_community_id: str,
        control_member_ids: Iterable[str],
        set_by: str,
        now: datetime,
        check: Validator,
    ) -> PilotControl:
        """The control a request names; its violations are added to ``check``."""
        ids = list(control_member_ids)
        check.require(
            not (control_community_id and ids),
            "control_member_ids",
            "name either a control community or control members, not both",
        )
        check.require(
            control_community_id != community_id, "control_community_id", "must not be the community itself"
        )
        check.require(
            len(ids) <= MAX_CONTROL_MEMBERS, "control_member_ids", f"at most {MAX_CONTROL_MEMBERS:,} people"
        )
        check.require(
            not ids or len(set(ids)) >= MIN_CONTROL_MEMBERS,
            "control_member_ids",
            f"at least {MIN_CONTROL_MEMBERS} different people, so no one's activity shows in the figures",
        )
        check.require(
            sum(len(i.encode()) for i in ids) <= MAX_CONTROL_BYTES,
            "control_member_ids",
            f"together at most {MAX_CONTROL_BYTES:,} bytes",
        )
        check.require(
            all(0 < len(i) <= MAX_MEMBER_ID_LENGTH and i.strip() == i for i in ids),
            "control_member_ids",
            f"each 1 to {MAX_MEMBER_ID_LENGTH} characters, without surrounding spaces",
        )
        return cls(community_id, control_community_id, tuple(sorted(set(ids))), set_by, now)


class ComparisonMetric(StrEnum):
    PARTICIPATION_PCT = "participation_pct"
    QUESTIONS_ANSWERED_PCT = "questions_answered_pct"
    MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS = "median_time_to_first_answer_seconds"


@dataclass(frozen=True)
class MetricComparison:
    metric: ComparisonMetric
    pilot_value: float
    control_value: float
    difference: float
    # The 95 % confidence interval of the difference; None when either group has nothing to measure.
    interval: tuple[float, float] | None
    pilot_sample_size: int
    control_sample_size: int
    interval_method: str


@dataclass(frozen=True)
class PilotComparison:
    control_community_id: str
    control_member_count: int
    since: datetime
    until: datetime
    metrics: list[MetricComparison]

"""Community goals: a metric, a target and a deadline, recorded with the lifecycle they were set in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from guild_common.errors import Validator
from guild_common.vocabulary import GoalMetric as GoalMetric
from guild_community.domain.communities import Lifecycle

# How far ahead a deadline may lie.
MAX_HORIZON = timedelta(days=5 * 366)
# The longest median time to first answer a goal may name: thirty days.
MAX_SECONDS_TARGET = 30 * 24 * 3600.0


@dataclass(frozen=True)
class Goal:
    id: str
    community_id: str
    metric: GoalMetric
    target: float
    deadline: datetime
    set_in_lifecycle: Lifecycle
    created_by: str
    create_time: datetime

    @classmethod
    def set(
        cls,
        *,
        id: str,
        community_id: str,
        metric: GoalMetric | None,
        target: float,
        deadline: datetime | None,
        lifecycle: Lifecycle,
        created_by: str,
        now: datetime,
    ) -> Goal:
        check = Validator()
        check.require(metric is not None, "metric", "one of " + ", ".join(m.value for m in GoalMetric))
        if metric is not None:
            if metric.is_percentage:
                check.require(0 < target <= 100, "target", "a percentage above 0 and at most 100")
            else:
                check.require(
                    0 < target <= MAX_SECONDS_TARGET, "target", "seconds above 0 and at most 30 days"
                )
        check.require(deadline is not None, "deadline", "must be set")
        if deadline is not None:
            check.require(deadline > now, "deadline", "must be in the future")
            check.require(deadline <= now + MAX_HORIZON, "deadline", "at most five years ahead")
        check.check()
        assert metric is not None
        assert deadline is not None
        # Stored to the millisecond: keep the same precision in what a create returns.
        deadline = deadline.replace(microsecond=deadline.microsecond // 1000 * 1000)
        return cls(id, community_id, metric, float(target), deadline, lifecycle, created_by, now)


@dataclass(frozen=True)
class GoalSet:
    """Event: an owner set a goal."""

    goal: Goal
    region: str
    programme: str


class GoalStatus(StrEnum):
    UNKNOWN = "unknown"
    ON_TRACK = "on_track"
    BEHIND = "behind"
    ACHIEVED = "achieved"
    MISSED = "missed"


@dataclass(frozen=True)
class Measurement:
    """A metric's value over [since, until) and how many members or questions it is taken over."""

    value: float
    sample_size: int
    since: datetime
    until: datetime


@dataclass(frozen=True)
class GoalProgress:
    goal: Goal
    measurement: Measurement
    status: GoalStatus


def measured_until(goal: Goal, now: datetime) -> datetime:
    """The end of the window a goal is judged on: now, or its deadline once that has passed."""
    return min(now, goal.deadline)


def meets_target(goal: Goal, value: float) -> bool:
    if goal.metric.is_percentage:
        return value >= goal.target
    return value <= goal.target  # a time: lower is better


def goal_status(goal: Goal, measurement: Measurement, now: datetime) -> GoalStatus:
    if measurement.sample_size <= 0:
        return GoalStatus.UNKNOWN
    met = meets_target(goal, measurement.value)
    if now >= goal.deadline:
        return GoalStatus.ACHIEVED if met else GoalStatus.MISSED
    return GoalStatus.ON_TRACK if met else GoalStatus.BEHIND

"""Participation figures: ISO weeks in the configured time zone, shares and medians."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from guild_common.vocabulary import GoalMetric as GoalMetric

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
TOP_CONTRIBUTORS = 10
MONTH = timedelta(days=30)
ANSWERED_SOON = timedelta(hours=24)
# A moment later than any event: "has not happened (yet)" in range queries.
NEVER = datetime(9999, 1, 1, tzinfo=UTC)
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class Scope(StrEnum):
    """Which field of a record a query selects on."""

    COMMUNITY = "community_id"
    PROGRAMME = "programme"
    REGION = "region"


class PostKind(StrEnum):
    QUESTION = "question"
    ANSWER = "answer"
    COMMENT = "comment"
    RESOURCE = "resource"


class Weeks:
    """ISO weeks (Monday first) and days in one time zone."""

    def __init__(self, time_zone: str = "UTC") -> None:
        self._zone = ZoneInfo(time_zone)

    def key(self, moment: datetime) -> str:
        year, week, _ = moment.astimezone(self._zone).isocalendar()
        return f"{year}-W{week:02d}"

    def bounds(self, key: str) -> tuple[datetime, datetime] | None:
        """Start and end of the week ``key`` (``YYYY-Www``), or None when malformed."""
        match = _WEEK.match(key)
        if match is None:
            return None
        try:
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            return None
        start = datetime.combine(monday, time(), self._zone)
        end = datetime.combine(monday + WEEK, time(), self._zone)
        return start, end

    def day(self, moment: datetime) -> str:
        return moment.astimezone(self._zone).date().isoformat()

    def days_before(self, until: datetime, window: timedelta) -> tuple[str, str]:
        """First and last of the ``window.days`` whole days ending with the day of the last moment
        before ``until`` (today when ``until`` is now; the week's Sunday when it is the week's end)."""
        last = (until - timedelta(microseconds=1)).astimezone(self._zone).date()
        first = last - timedelta(days=window.days - 1)
        return first.isoformat(), last.isoformat()


def pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True)
class QuestionFigures:
    asked: int
    answered: int
    median_seconds: float | None
    answered_within_24h: int

    @classmethod
    def of(cls, answer_seconds: list[float | None]) -> QuestionFigures:
        """From each question's seconds to its first answer (None when unanswered)."""
        answered = [s for s in answer_seconds if s is not None]
        soon = ANSWERED_SOON.total_seconds()
        return cls(
            asked=len(answer_seconds),
            answered=len(answered),
            median_seconds=median(answered),
            answered_within_24h=sum(1 for s in answered if s <= soon),
        )


@dataclass(frozen=True)
class Insights:
    scope: Scope
    scope_id: str
    week: str
    week_start: datetime
    as_of: datetime
    members: int
    active_7_days: int
    active_30_days: int
    contributors: int
    posts: dict[PostKind, int]
    questions: QuestionFigures
    new_starters: int
    new_starters_posted: int
    top_contributors: list[tuple[str, int]]


@dataclass(frozen=True)
class GoalValue:
    metric: GoalMetric
    value: float
    sample_size: int
    since: datetime
    until: datetime

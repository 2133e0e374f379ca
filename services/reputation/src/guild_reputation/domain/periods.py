"""Leaderboard periods: all time, and calendar weeks (ISO, Monday first) and months in one time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

ALL_TIME = "all"
# The board across all communities.
GLOBAL = "*"


class PeriodKind(StrEnum):
    ALL_TIME = "all_time"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Periods:
    """The period keys one moment falls in."""

    week: str
    month: str

    def names(self) -> tuple[str, str, str]:
        return (ALL_TIME, self.week, self.month)

    def key(self, kind: PeriodKind) -> str:
        if kind is PeriodKind.WEEK:
            return self.week
        if kind is PeriodKind.MONTH:
            return self.month
        return ALL_TIME


class Calendar:
    def __init__(self, time_zone: str = "UTC") -> None:
        self._zone = ZoneInfo(time_zone)

    def periods(self, moment: datetime) -> Periods:
        local = moment.astimezone(self._zone)
        year, week, _ = local.isocalendar()
        return Periods(week=f"w{year}-W{week:02d}", month=f"m{local.year}-{local.month:02d}")

    def day(self, moment: datetime) -> str:
        return moment.astimezone(self._zone).date().isoformat()

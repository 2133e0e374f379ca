"""Names the services share for the same things; they travel in events and APIs as these strings."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A member's role in a community (community grants it; content and reputation act on it)."""

    MEMBER = "member"
    CHAMPION = "champion"
    CURATOR = "curator"
    MODERATOR = "moderator"
    OWNER = "owner"


class GoalMetric(StrEnum):
    """What a community goal measures (community sets goals; reputation measures them)."""

    WEEKLY_ACTIVE_MEMBERS_PCT = "weekly_active_members_pct"
    QUESTIONS_ANSWERED_WITHIN_24H_PCT = "questions_answered_within_24h_pct"
    MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS = "median_time_to_first_answer_seconds"
    CONTRIBUTORS_PCT = "contributors_pct"
    NEW_STARTERS_ASKED_WITHIN_30_DAYS_PCT = "new_starters_asked_within_30_days_pct"

    @property
    def is_percentage(self) -> bool:
        return self.value.endswith("_pct")

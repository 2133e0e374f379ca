"""Custom badges: owners' definitions from rule templates, and the keys their counting uses. Pure, no I/O.

A definition counts events of one kind by a member in its community (optionally about posts with one tag)
within a period. Each counted event is recorded once per definition under the event's id; a member earns
the badge once the count in the period reaches the threshold: once ever, or once per period when the
definition is repeatable (calendar weeks and months in the configured time zone). A repeatable rolling
window awards again only for events after the day of the member's last award: each event counts towards
one award at most, whatever the window's length.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum

from guild_common.errors import Validator
from guild_common.tags import normalise_tag
from guild_reputation.domain.badges import Tier
from guild_reputation.domain.periods import Calendar

TITLE_MAX = 100
DESCRIPTION_MAX = 1000
THRESHOLD_MAX = 100_000
ROLLING_DAYS_MAX = 366
TAG_MAX = 50
REQUEST_ID_MAX = 100
CUSTOM = "custom"
# The award key of a badge earned once.
ONCE = "once"
_EPOCH = date(1970, 1, 1).toordinal()


class CountedEvent(StrEnum):
    QUESTION_ASKED = "question_asked"
    ANSWER_POSTED = "answer_posted"
    ANSWER_ACCEPTED = "answer_accepted"
    UPVOTE_RECEIVED = "upvote_received"
    RESOURCE_SHARED = "resource_shared"
    COMMENT_POSTED = "comment_posted"
    COLLECTION_PUBLISHED = "collection_published"
    COLLECTION_FOLLOWED = "collection_followed"


# Events about something without tags: a definition on a tag cannot count them.
UNTAGGED = frozenset({CountedEvent.COLLECTION_PUBLISHED, CountedEvent.COLLECTION_FOLLOWED})

_DESCRIBED = {
    CountedEvent.QUESTION_ASKED: "questions asked",
    CountedEvent.ANSWER_POSTED: "answers to others' questions",
    CountedEvent.ANSWER_ACCEPTED: "accepted answers",
    CountedEvent.UPVOTE_RECEIVED: "upvotes received",
    CountedEvent.RESOURCE_SHARED: "resources shared",
    CountedEvent.COMMENT_POSTED: "comments posted",
    CountedEvent.COLLECTION_PUBLISHED: "collections published",
    CountedEvent.COLLECTION_FOLLOWED: "follows of their collections",
}


class TemplatePeriod(StrEnum):
    ALL_TIME = "all_time"
    WEEK = "week"
    MONTH = "month"
    ROLLING_DAYS = "rolling_days"


@dataclass(frozen=True)
class Template:
    event_type: CountedEvent
    threshold: int
    period: TemplatePeriod = TemplatePeriod.ALL_TIME
    rolling_days: int = 0
    tag: str = ""

    def narrative(self) -> str:
        """The criteria in words, e.g. "At least 5 accepted answers tagged python in a calendar week."."""
        what = _DESCRIBED[self.event_type]
        if self.tag:
            what += f" about posts tagged {self.tag}"
        within = {
            TemplatePeriod.ALL_TIME: "",
            TemplatePeriod.WEEK: " in one calendar week",
            TemplatePeriod.MONTH: " in one calendar month",
            TemplatePeriod.ROLLING_DAYS: f" within {self.rolling_days} days",
        }[self.period]
        return f"At least {self.threshold} {what}{within}, in the community."


@dataclass(frozen=True)
class Count:
    """Where one counted event goes: its bucket (``""`` for rolling windows, counted by day), its day
    number, the award key it may earn under, and the first day of its rolling window."""

    bucket: str
    day: int
    award_key: str
    window_start: int = 0


@dataclass(frozen=True)
class BadgeDefinition:
    id: str
    community_id: str
    title: str
    description: str
    tier: Tier
    template: Template
    repeatable: bool
    created_by: str
    create_time: datetime
    archived: bool = False
    archive_time: datetime | None = None

    @property
    def rolls_over(self) -> bool:
        """Repeatable over a rolling window: counted from the day after the member's last award."""
        return self.repeatable and self.template.period is TemplatePeriod.ROLLING_DAYS

    def legacy_award_keys(self, day: int) -> list[str]:
        """Keys under which a rolling window's awards within the window ending on ``day`` were stored
        before the day of the last award was kept (one per block of ``rolling_days`` days from
        1970-01-01)."""
        if not self.rolls_over:
            return []
        block = day // self.template.rolling_days
        return [f"d{block}", f"d{block - 1}"]

    @staticmethod
    def day_number(calendar: Calendar, moment: datetime) -> int:
        """Days from 1970-01-01 to the calendar day of ``moment`` (naive: UTC)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return date.fromisoformat(calendar.day(moment)).toordinal() - _EPOCH

    def count(self, calendar: Calendar, moment: datetime) -> Count:
        periods = calendar.periods(moment)
        day = self.day_number(calendar, moment)
        t = self.template
        if t.period is TemplatePeriod.ROLLING_DAYS:
            key = f"day{day}" if self.repeatable else ONCE
            return Count("", day, key, day - t.rolling_days + 1)
        bucket = {
            TemplatePeriod.ALL_TIME: "all",
            TemplatePeriod.WEEK: periods.week,
            TemplatePeriod.MONTH: periods.month,
        }[t.period]
        return Count(bucket, day, bucket if self.repeatable else ONCE)

    def award_id(self, member_id: str, award_key: str) -> str:
        """The natural key: once per member, definition and award key."""
        return f"{self.community_id}:{member_id}:{CUSTOM}:{self.id}:{award_key}"

    def archive(self, at: datetime) -> BadgeDefinition:
        return self if self.archived else replace(self, archived=True, archive_time=at)


def validate_definition(
    *,
    community_id: str,
    title: str,
    description: str,
    tier: Tier | None,
    event_type: str,
    threshold: int,
    period: TemplatePeriod | None,
    rolling_days: int,
    tag: str,
    request_id: str,
) -> tuple[str, str, Tier, Template]:
    """Checks a new definition; raises ``InvalidArgument`` naming each bad field. Returns the trimmed
    title and description, the tier and the template."""
    check = Validator()
    title, description, tag = title.strip(), description.strip(), normalise_tag(tag)
    check.require(bool(community_id), "community_id", "must not be empty")
    check.require(0 < len(title) <= TITLE_MAX, "title", f"1 to {TITLE_MAX} characters")
    check.require(len(description) <= DESCRIPTION_MAX, "description", f"at most {DESCRIPTION_MAX} characters")
    check.require(tier is not None, "tier", "bronze, silver or gold")
    known = [e.value for e in CountedEvent]
    check.require(event_type in known, "template.event_type", f"one of {', '.join(known)}")
    check.require(0 < threshold <= THRESHOLD_MAX, "template.threshold", f"between 1 and {THRESHOLD_MAX}")
    check.require(period is not None, "template.period", "all time, week, month or rolling days")
    if period is TemplatePeriod.ROLLING_DAYS:
        check.require(
            0 < rolling_days <= ROLLING_DAYS_MAX,
            "template.rolling_days",
            f"between 1 and {ROLLING_DAYS_MAX} with a rolling period",
        )
    else:
        check.require(rolling_days == 0, "template.rolling_days", "only with a rolling period")
    check.require(len(tag) <= TAG_MAX, "template.tag", f"at most {TAG_MAX} characters")
    if tag and event_type in known:
        check.require(CountedEvent(event_type) not in UNTAGGED, "template.tag", "collections carry no tags")
    check.require(0 < len(request_id) <= REQUEST_ID_MAX, "request_id", f"1 to {REQUEST_ID_MAX} characters")
    check.check("the badge definition is invalid")
    assert tier is not None
    assert period is not None
    template = Template(CountedEvent(event_type), threshold, period, rolling_days, tag)
    return title, description, tier, template

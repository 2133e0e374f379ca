"""Continuing professional development (CPD): a community's rules, the credits activities earn, CPD years.

Pure: no I/O, no protobuf.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from guild_common.errors import Validator
from guild_common.text import NAME_POLICY, is_clean_name

MINUTES_MIN, MINUTES_MAX = 1, 600
YEAR_CAP_MAX = 60_000
REFLECTION_MAX = 2_000


class CpdActivity(enum.StrEnum):
    ANSWER_ACCEPTED = "answer_accepted"
    RESOURCE_REVIEWED = "resource_reviewed"
    REFLECTION_SURVEY = "reflection_survey"
    COLLECTION_PUBLISHED = "collection_published"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    CpdActivity.ANSWER_ACCEPTED: "Answer accepted",
    CpdActivity.RESOURCE_REVIEWED: "Resource reviewed",
    CpdActivity.REFLECTION_SURVEY: "Reflection survey",
    CpdActivity.COLLECTION_PUBLISHED: "Collection published",
}


class CreditState(enum.StrEnum):
    PENDING = "pending"  # waiting for the learner's reflection
    RESERVING = "reserving"  # being counted against the caps (resumed after a crash)
    COUNTED = "counted"
    OVER_CAP = "over_cap"


@dataclass(frozen=True)
class CpdRules:
    community_id: str
    minutes: dict[CpdActivity, int]
    year_cap: int
    month_cap: int
    reflection_required: bool
    year_start_month: int
    updated_by: str = ""
    update_time: datetime | None = None

    def year_of(self, moment: datetime) -> int:
        return cpd_year(moment, self.year_start_month)


def validate_rules(
    community_id: str,
    activities: Sequence[tuple[CpdActivity | None, int]],
    year_cap: int,
    month_cap: int,
    reflection_required: bool,
    year_start_month: int,
    *,
    updated_by: str,
    at: datetime,
) -> CpdRules:
    """The rules, or ``InvalidArgument`` naming every bad field."""
    check = Validator()
    check.require(bool(community_id), "community_id", "must not be empty")
    check.require(len(community_id) <= 100, "community_id", "at most 100 characters")
    check.require(bool(activities), "rules.activities", "name at least one activity")
    minutes: dict[CpdActivity, int] = {}
    for i, (activity, amount) in enumerate(activities):
        field = f"rules.activities[{i}]"
        if activity is None:
            check.require(False, f"{field}.activity", "must be one of the CPD activities")
        elif activity in minutes:
            check.require(False, f"{field}.activity", "listed more than once")
        else:
            minutes[activity] = amount
        check.require(
            MINUTES_MIN <= amount <= MINUTES_MAX,
            f"{field}.minutes",
            f"must be {MINUTES_MIN} to {MINUTES_MAX}",
        )
    check.require(1 <= year_cap <= YEAR_CAP_MAX, "rules.year_cap_minutes", f"must be 1 to {YEAR_CAP_MAX}")
    check.require(
        month_cap == 0 or 1 <= month_cap <= max(year_cap, 1),
        "rules.month_cap_minutes",
        "must be 0 (no monthly cap) or 1 to year_cap_minutes",
    )
    check.require(1 <= year_start_month <= 12, "rules.year_start_month", "must be 1 to 12")
    check.check("invalid CPD rules")
    return CpdRules(
        community_id=community_id,
        minutes=minutes,
        year_cap=year_cap,
        month_cap=month_cap,
        reflection_required=reflection_required,
        year_start_month=year_start_month,
        updated_by=updated_by,
        update_time=at,
    )


def cpd_year(moment: datetime, start_month: int) -> int:
    """The calendar year the CPD year holding ``moment`` (UTC) starts in."""
    moment = moment.astimezone(UTC)
    return moment.year if moment.month >= start_month else moment.year - 1


def year_bounds(year: int, start_month: int) -> tuple[datetime, datetime]:
    """The first moment of the CPD year and the first moment of the next."""
    return datetime(year, start_month, 1, tzinfo=UTC), datetime(year + 1, start_month, 1, tzinfo=UTC)


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


@dataclass(frozen=True)
class Reflection:
    learned: str
    practice_change: str
    time: datetime


def validate_reflection(learned: str, practice_change: str, at: datetime) -> Reflection:
    check = Validator()
    for field, text in (("reflection.learned", learned), ("reflection.practice_change", practice_change)):
        check.require(bool(text.strip()), field, "must not be empty")
        check.require(len(text) <= REFLECTION_MAX, field, f"at most {REFLECTION_MAX} characters")
        flat = text.replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
        check.require(is_clean_name(flat), field, "line breaks aside, " + NAME_POLICY)
    check.check("invalid reflection")
    return Reflection(learned.strip(), practice_change.strip(), at)


@dataclass(frozen=True)
class CpdCredit:
    """One activity credited to a learner: ``<event id>:<rule>``, counted once per (member, activity,
    target) too."""

    id: str
    community_id: str
    member_id: str
    activity: CpdActivity
    minutes: int
    state: CreditState
    cpd_year: int
    month: str
    time: datetime
    target_id: str
    description: str
    evidence_url: str
    source_event_id: str
    region: str = ""
    programme: str = ""
    reflection: Reflection | None = None

    @property
    def target_key(self) -> str:
        return f"{self.community_id}:{self.member_id}:{self.activity.value}:{self.target_id}"


def credit_id(event_id: str, activity: CpdActivity) -> str:
    return f"{event_id}:cpd_{activity.value}"


class Evidence:
    """Links to what a credit is for, under the deployment's web address."""

    def __init__(self, base_url: str) -> None:
        self._base = base_url.rstrip("/")

    def _url(self, community_id: str, *parts: str) -> str:
        path = "/".join(quote(p, safe="") for p in parts)
        return f"{self._base}/communities/{quote(community_id, safe='')}/{path}"

    def answer(self, community_id: str, question_id: str, answer_id: str) -> str:
        return self._url(community_id, "questions", question_id) + f"#answer-{quote(answer_id, safe='')}"

    def resource(self, community_id: str, resource_id: str) -> str:
        return self._url(community_id, "resources", resource_id)

    def survey(self, community_id: str, survey_id: str) -> str:
        return self._url(community_id, "surveys", survey_id)

    def collection(self, community_id: str, collection_id: str) -> str:
        return self._url(community_id, "collections", collection_id)


@dataclass(frozen=True)
class Totals:
    counted_minutes: int = 0
    pending_minutes: int = 0
    counted_credits: int = 0
    pending_credits: int = 0
    over_cap_credits: int = 0
    by_activity: tuple[tuple[CpdActivity, int], ...] = ()


@dataclass(frozen=True)
class MemberTotal:
    member_id: str
    counted_minutes: int
    counted_credits: int

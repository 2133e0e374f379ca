"""Continuing professional development (CPD): a community's rules, the credits activities earn, CPD years.

Pure: no I/O, no protobuf.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from urllib.parse import quote
from zoneinfo import ZoneInfo, available_timezones

from guild_common.errors import Validator
from guild_common.text import NAME_POLICY, is_clean_name

MINUTES_MIN, MINUTES_MAX = 1, 600
YEAR_CAP_MAX = 60_000
REFLECTION_MAX = 2_000
TIME_ZONE_MAX = 64


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
    # An IANA time zone name; empty: UTC.
    time_zone: str = ""
    # When the community first had rules: activity before then earns nothing.
    since: datetime | None = None

    @property
    def zone(self) -> tzinfo:
        return zone_of(self.time_zone)

    def year_of(self, moment: datetime) -> int:
        return cpd_year(moment, self.year_start_month, self.zone)

    def month_of(self, moment: datetime) -> str:
        return month_of(moment, self.zone)

    def applies_to(self, moment: datetime) -> bool:
        """Whether activity at ``moment`` comes under the rules (not before the community first had any)."""
        return self.since is None or moment >= self.since


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
    time_zone: str = "",
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
    check.require(
        is_time_zone(time_zone),
        "rules.time_zone",
        f"must be empty (UTC) or an IANA time zone such as Europe/London, at most {TIME_ZONE_MAX} characters",
    )
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
        time_zone=time_zone,
    )


@cache
def _time_zones() -> frozenset[str]:
    # "localtime" and "Factory" are in some systems' databases but name no place.
    return frozenset(available_timezones() - {"localtime", "Factory"})


def is_time_zone(name: str) -> bool:
    """Empty (UTC) or an IANA time zone name known to the tz database."""
    return not name or (len(name) <= TIME_ZONE_MAX and name in _time_zones())


def zone_of(name: str) -> tzinfo:
    """The zone of a validated name; empty (rules stored before zones existed): UTC."""
    return ZoneInfo(name) if name else UTC


def cpd_year(moment: datetime, start_month: int, zone: tzinfo = UTC) -> int:
    """The calendar year the CPD year holding ``moment`` starts in, by the wall clock of ``zone``."""
    local = moment.astimezone(zone)
    return local.year if local.month >= start_month else local.year - 1


def year_bounds(year: int, start_month: int, zone: tzinfo = UTC) -> tuple[datetime, datetime]:
    """The first moment of the CPD year and the first moment of the next (midnight in ``zone``)."""
    return datetime(year, start_month, 1, tzinfo=zone), datetime(year + 1, start_month, 1, tzinfo=zone)


def month_of(moment: datetime, zone: tzinfo = UTC) -> str:
    """The calendar month of ``moment`` in ``zone``, as used for monthly caps: ``YYYY-MM``."""
    return moment.astimezone(zone).strftime("%Y-%m")


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

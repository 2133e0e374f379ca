"""xAPI 1.0.3 statements of members' learning activity, for an organisation's Learning Record Store. Pure.

Each statement names one member, its actor (an ``account`` on the organisation's home page). Its ``id``
is derived from the event's id, so an event handled twice yields the same statement, which an LRS
stores once. See docs/xapi.md for the mapping of events to verbs and activity types.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

XAPI_VERSION = "1.0.3"
PLATFORM = "Guild"
# Fixed for good: statement ids already sent to an LRS are derived from it.
STATEMENT_NAMESPACE = uuid.UUID("6f1b2c5e-3a8d-5e47-9c1f-2b7d4e8a9c30")
# Titles are members' text in whatever language they wrote: "und" is BCP 47 for undetermined.
TEXT_LANGUAGE = "und"
MAX_NAME_LENGTH = 500


class Kind(StrEnum):
    QUESTION_ASKED = "question_asked"
    ANSWER_POSTED = "answer_posted"
    ANSWER_ACCEPTED = "answer_accepted"
    COMMENT_POSTED = "comment_posted"
    RESOURCE_SHARED = "resource_shared"
    ITEM_RATED = "item_rated"
    COLLECTION_FOLLOWED = "collection_followed"
    BADGE_EARNED = "badge_earned"
    SURVEY_RESPONDED = "survey_responded"
    COMMUNITY_JOINED = "community_joined"


@dataclass(frozen=True)
class Verb:
    id: str
    display: str


ADL = "http://adlnet.gov/expapi/verbs/"
ACTIVITY_STREAMS = "http://activitystrea.ms/schema/1.0/"
TINCAN_VERBS = "http://id.tincanapi.com/verb/"

VERBS: dict[Kind, Verb] = {
    Kind.QUESTION_ASKED: Verb(ADL + "asked", "asked"),
    Kind.ANSWER_POSTED: Verb(ADL + "answered", "answered"),
    Kind.ANSWER_ACCEPTED: Verb(ACTIVITY_STREAMS + "accept", "accepted"),
    Kind.COMMENT_POSTED: Verb(ADL + "commented", "commented"),
    Kind.RESOURCE_SHARED: Verb(ADL + "shared", "shared"),
    Kind.ITEM_RATED: Verb(TINCAN_VERBS + "rated", "rated"),
    Kind.COLLECTION_FOLLOWED: Verb(ACTIVITY_STREAMS + "follow", "followed"),
    Kind.BADGE_EARNED: Verb(TINCAN_VERBS + "earned", "earned"),
    Kind.SURVEY_RESPONDED: Verb(ADL + "responded", "responded"),
    Kind.COMMUNITY_JOINED: Verb(ACTIVITY_STREAMS + "join", "joined"),
}


class ActivityType(StrEnum):
    QUESTION = "http://adlnet.gov/expapi/activities/question"
    ANSWER = "http://id.tincanapi.com/activitytype/forum-reply"
    LINK = "http://adlnet.gov/expapi/activities/link"
    COLLECTION = "http://id.tincanapi.com/activitytype/collection-simple"
    BADGE = "http://activitystrea.ms/schema/1.0/badge"
    SURVEY = "http://id.tincanapi.com/activitytype/survey"
    COMMUNITY = "http://id.tincanapi.com/activitytype/community-site"


@dataclass(frozen=True)
class Activity:
    """An activity by its path under the activity base, e.g. ``questions/q1``."""

    path: str
    type: ActivityType
    name: str = ""
    more_info: str = ""


def _segment(value: str) -> str:
    return quote(value, safe="") or "_"


def question(question_id: str, title: str = "") -> Activity:
    return Activity(f"questions/{_segment(question_id)}", ActivityType.QUESTION, title)


def answer(answer_id: str) -> Activity:
    return Activity(f"answers/{_segment(answer_id)}", ActivityType.ANSWER)


def resource(resource_id: str, title: str = "", url: str = "") -> Activity:
    return Activity(f"resources/{_segment(resource_id)}", ActivityType.LINK, title, url)


def collection(collection_id: str) -> Activity:
    return Activity(f"collections/{_segment(collection_id)}", ActivityType.COLLECTION)


def badge(community_id: str, badge_name: str, tier: str, title: str = "") -> Activity:
    """One activity per badge and tier in a community: every member who earns it earns the same one."""
    path = f"communities/{_segment(community_id)}/badges/{_segment(badge_name)}"
    return Activity(f"{path}/{_segment(tier)}" if tier else path, ActivityType.BADGE, title)


def survey(survey_id: str) -> Activity:
    return Activity(f"surveys/{_segment(survey_id)}", ActivityType.SURVEY)


def community(community_id: str) -> Activity:
    return Activity(f"communities/{_segment(community_id)}", ActivityType.COMMUNITY)


@dataclass(frozen=True)
class Score:
    raw: int
    min: int
    max: int


@dataclass(frozen=True)
class LearningEvent:
    """What a statement is made of, taken from one event."""

    event_id: str
    kind: Kind
    time: datetime
    actor_id: str
    community_id: str
    object: Activity
    region: str = ""
    programme: str = ""
    parent: Activity | None = None
    other: Activity | None = None
    score: Score | None = None


@dataclass(frozen=True)
class Profile:
    """The organisation's side of every statement: its home page (actors' accounts) and the base of the
    activity IRIs."""

    homepage: str
    activity_base: str = ""

    @property
    def base(self) -> str:
        return (self.activity_base or f"{self.homepage.rstrip('/')}/xapi/activities").rstrip("/")

    def iri(self, activity: Activity) -> str:
        return f"{self.base}/{activity.path}"

    def extension(self, name: str) -> str:
        return f"{self.base}/extensions/{name}"


def statement_id(event_id: str) -> str:
    return str(uuid.uuid5(STATEMENT_NAMESPACE, event_id))


def _timestamp(time: datetime) -> str:
    return time.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _activity(profile: Profile, activity: Activity) -> dict[str, Any]:
    definition: dict[str, Any] = {"type": activity.type.value}
    if activity.name:
        definition["name"] = {TEXT_LANGUAGE: activity.name[:MAX_NAME_LENGTH]}
    if activity.more_info.startswith(("https://", "http://")):
        definition["moreInfo"] = activity.more_info
    return {"objectType": "Activity", "id": profile.iri(activity), "definition": definition}


def build_statement(event: LearningEvent, profile: Profile) -> dict[str, Any]:
    """The xAPI 1.0.3 statement of ``event``, as the JSON object an LRS receives."""
    verb = VERBS[event.kind]
    context_activities: dict[str, list[dict[str, Any]]] = {}
    if event.parent is not None:
        context_activities["parent"] = [_activity(profile, event.parent)]
    if event.community_id and event.object.type is not ActivityType.COMMUNITY:
        context_activities["grouping"] = [_activity(profile, community(event.community_id))]
    if event.other is not None:
        context_activities["other"] = [_activity(profile, event.other)]
    context: dict[str, Any] = {"platform": PLATFORM}
    if context_activities:
        context["contextActivities"] = context_activities
    extensions = {
        profile.extension(name): value
        for name, value in (("region", event.region), ("programme", event.programme))
        if value
    }
    if extensions:
        context["extensions"] = extensions
    statement: dict[str, Any] = {
        "id": statement_id(event.event_id),
        "actor": {
            "objectType": "Agent",
            "account": {"homePage": profile.homepage, "name": event.actor_id},
        },
        "verb": {"id": verb.id, "display": {"en-US": verb.display}},
        "object": _activity(profile, event.object),
        "context": context,
        "timestamp": _timestamp(event.time),
    }
    if event.score is not None:
        s = event.score
        statement["result"] = {"score": {"raw": s.raw, "min": s.min, "max": s.max}}
    return statement


def statement_json(statement: dict[str, Any]) -> str:
    return json.dumps(statement, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class OptOuts:
    """Communities whose members' activity is never recorded (``GUILD_XAPI_EXCLUDED_COMMUNITIES``)."""

    excluded_communities: frozenset[str] = frozenset()

    def excludes(self, event: LearningEvent) -> bool:
        return event.community_id in self.excluded_communities


@dataclass(frozen=True)
class Endpoint:
    """A Learning Record Store: statements are POSTed to ``<url>/statements`` with Basic auth."""

    name: str
    url: str
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def statements_url(self) -> str:
        return f"{self.url.rstrip('/')}/statements"


class StatementState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


@dataclass(frozen=True)
class QueuedStatement:
    """One statement for one endpoint; ``id`` is ``<endpoint>:<statement id>``, so it is queued once."""

    id: str
    endpoint: str
    statement_id: str
    body: str
    attempts: int
    lease: str = ""


def queued_id(endpoint: str, statement_id: str) -> str:
    return f"{endpoint}:{statement_id}"


@dataclass(frozen=True)
class Outcome:
    """What became of a claimed statement after an attempt."""

    statement: QueuedStatement
    state: StatementState
    attempts: int
    next_attempt_time: datetime
    error: str = ""

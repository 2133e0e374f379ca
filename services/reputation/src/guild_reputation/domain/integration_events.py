"""The events of other services (and this one's ``points_changed``) that reputation acts on, with just the
fields it reads. ``meta.id`` is the idempotency key of everything a handler records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from guild_common.events.meta import EventMeta


def region_programme(meta: EventMeta) -> tuple[str, str]:
    """Region and programme of the subject ``guild.<region>.<programme>.<svc>.<event>`` the event came by."""
    return (meta.region, meta.programme) if meta.region else ("unknown", "unknown")


# Content


@dataclass(frozen=True)
class PostCreated:
    meta: EventMeta
    post_id: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class ResourceShared:
    meta: EventMeta
    resource_id: str
    community_id: str
    author_id: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class QuestionAsked:
    meta: EventMeta
    question_id: str
    community_id: str
    author_id: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class AnswerPosted:
    """``question_tags``: the question's tags as the producer carried them (none from older producers)."""

    meta: EventMeta
    answer_id: str
    question_id: str
    community_id: str
    author_id: str
    question_author_id: str
    question_tags: tuple[str, ...]


@dataclass(frozen=True)
class AnswerAccepted:
    meta: EventMeta
    answer_id: str
    question_id: str
    community_id: str
    answer_author_id: str
    question_author_id: str
    question_title: str
    question_tags: tuple[str, ...]


@dataclass(frozen=True)
class AnswerUnaccepted:
    meta: EventMeta
    answer_id: str
    community_id: str
    answer_author_id: str


@dataclass(frozen=True)
class VoteChanged:
    meta: EventMeta
    target_kind: str
    target_id: str
    question_id: str
    community_id: str
    voter_id: str
    target_author_id: str
    previous_value: int
    value: int
    score: int
    question_tags: tuple[str, ...]


@dataclass(frozen=True)
class PostRemoved:
    meta: EventMeta
    post_id: str
    community_id: str
    author_id: str
    by_moderator: bool


@dataclass(frozen=True)
class CollectionFollowed:
    meta: EventMeta
    collection_id: str
    community_id: str
    curator_id: str
    follower_id: str


@dataclass(frozen=True)
class ItemRated:
    """``rate_time``: when the rating was given (the event's time when the producer did not say)."""

    meta: EventMeta
    item_id: str
    item_kind: str
    community_id: str
    author_id: str
    rater_id: str
    stars: int
    average: float
    count: int
    rate_time: datetime


@dataclass(frozen=True)
class CommentPosted:
    meta: EventMeta
    comment_id: str
    post_id: str
    question_id: str
    community_id: str
    author_id: str


@dataclass(frozen=True)
class CollectionPublished:
    """``publish_time``: when it was published (the event's time when the producer did not say)."""

    meta: EventMeta
    collection_id: str
    community_id: str
    curator_id: str
    title: str
    item_post_ids: tuple[str, ...]
    publish_time: datetime


# Community


@dataclass(frozen=True)
class CommunityCreated:
    meta: EventMeta
    community_id: str
    visibility: str


@dataclass(frozen=True)
class CommunityUpdated:
    meta: EventMeta
    community_id: str
    visibility: str


@dataclass(frozen=True)
class MemberJoined:
    """``region``/``programme``: the community's, as the payload carries them."""

    meta: EventMeta
    community_id: str
    member_id: str
    role: str
    region: str
    programme: str


@dataclass(frozen=True)
class RoleGranted:
    meta: EventMeta
    community_id: str
    member_id: str
    role: str
    previous_role: str
    region: str
    programme: str


@dataclass(frozen=True)
class RoleRevoked:
    meta: EventMeta
    community_id: str
    member_id: str
    role: str
    current_role: str
    region: str
    programme: str


@dataclass(frozen=True)
class MemberLeft:
    meta: EventMeta
    community_id: str
    member_id: str


@dataclass(frozen=True)
class PilotControlSet:
    meta: EventMeta
    community_id: str
    control_community_id: str
    control_member_ids: tuple[str, ...]
    version: int


@dataclass(frozen=True)
class SurveyResponseSubmitted:
    meta: EventMeta
    survey_id: str
    community_id: str
    member_id: str


# Reputation (every replica's ledger entries, followed by each replica's boards)


@dataclass(frozen=True)
class PointsChanged:
    """``time``: the entry's time (the event's when the producer did not say)."""

    meta: EventMeta
    entry_id: str
    community_id: str
    member_id: str
    time: datetime

"""The events of community, content and reputation that notify acts on, with just the fields it reads.

Times a payload may carry (``create_time`` of a question, a follow's ``follow_time``...) are resolved by the
decoder: the payload's own time when set, else the time the event was written (``meta.time``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from guild_common.events.meta import EventMeta


@dataclass(frozen=True)
class AnswerPosted:
    meta: EventMeta
    question_id: str
    question_title: str
    question_author_id: str
    author_id: str
    community_id: str
    answer_id: str


@dataclass(frozen=True)
class AnswerAccepted:
    meta: EventMeta
    question_id: str
    question_title: str
    answer_author_id: str
    accepted_by: str
    community_id: str


@dataclass(frozen=True)
class VoteChanged:
    meta: EventMeta
    target_kind: str
    target_id: str
    community_id: str
    target_author_id: str
    voter_id: str
    previous_value: int
    value: int
    score: int


@dataclass(frozen=True)
class PostRemoved:
    meta: EventMeta
    post_id: str
    kind: str
    community_id: str
    author_id: str
    removed_by: str
    reason: str
    by_moderator: bool


@dataclass(frozen=True)
class PostHidden:
    meta: EventMeta
    post_id: str
    kind: str
    community_id: str
    author_id: str
    hidden_by: str
    reason: str
    by_flags: bool
    flag_count: int


@dataclass(frozen=True)
class PostRestored:
    meta: EventMeta
    post_id: str
    kind: str
    community_id: str
    author_id: str
    restored_by: str
    reason: str


@dataclass(frozen=True)
class CommentPosted:
    meta: EventMeta
    post_id: str
    post_kind: str
    community_id: str
    post_author_id: str
    author_id: str


@dataclass(frozen=True)
class MentionMade:
    meta: EventMeta
    mentioned_id: str
    post_id: str
    kind: str
    community_id: str
    author_id: str


@dataclass(frozen=True)
class PostFlagged:
    meta: EventMeta
    post_id: str
    kind: str
    community_id: str
    author_id: str
    reason: str
    flag_count: int


@dataclass(frozen=True)
class ResourceShared:
    meta: EventMeta
    resource_id: str
    community_id: str
    author_id: str
    title: str


@dataclass(frozen=True)
class PostCreated:
    meta: EventMeta
    post_id: str
    kind: str
    community_id: str
    author_id: str
    title: str


@dataclass(frozen=True)
class QuestionAsked:
    meta: EventMeta
    question_id: str
    community_id: str
    title: str
    author_id: str
    tags: tuple[str, ...]
    create_time: datetime


@dataclass(frozen=True)
class TagFollowed:
    meta: EventMeta
    member_id: str
    tag: str
    follow_time: datetime


@dataclass(frozen=True)
class TagUnfollowed:
    meta: EventMeta
    member_id: str
    tag: str
    unfollow_time: datetime


@dataclass(frozen=True)
class MemberJoined:
    meta: EventMeta
    community_id: str
    member_id: str
    role: str


@dataclass(frozen=True)
class MemberLeft:
    meta: EventMeta
    community_id: str
    member_id: str


@dataclass(frozen=True)
class RoleGranted:
    meta: EventMeta
    community_id: str
    member_id: str
    role: str
    granted_by: str


@dataclass(frozen=True)
class RoleRevoked:
    meta: EventMeta
    community_id: str
    member_id: str
    current_role: str


@dataclass(frozen=True)
class JoinRequested:
    meta: EventMeta
    community_id: str
    member_id: str


@dataclass(frozen=True)
class SurveyOpened:
    meta: EventMeta
    survey_id: str
    community_id: str
    opened_by: str
    title: str


@dataclass(frozen=True)
class ProfileUpdated:
    meta: EventMeta
    member_id: str
    expertise: tuple[str, ...]
    update_time: datetime


@dataclass(frozen=True)
class BadgeAwarded:
    meta: EventMeta
    award_id: str
    community_id: str
    member_id: str
    badge: str
    title: str
    citation: str
    granted_by: str

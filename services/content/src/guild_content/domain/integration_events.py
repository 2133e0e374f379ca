"""The community events content acts on: memberships, roles, community settings and person follows.

Each carries the fields content reads, ``as_of`` (when the fact became true: the payload's time, else
the event's) and the event's :class:`EventMeta`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from guild_common.events.meta import EventMeta
from guild_content.domain.community import Role


@dataclass(frozen=True)
class CommunityCreated:
    meta: EventMeta
    community_id: str
    region: str
    programme: str
    lifecycle: str
    visibility: str
    as_of: datetime


@dataclass(frozen=True)
class LifecycleChanged:
    meta: EventMeta
    community_id: str
    lifecycle: str
    as_of: datetime


@dataclass(frozen=True)
class CommunityUpdated:
    """Visibility and the auto-hide flag threshold, which content applies to its own posts."""

    meta: EventMeta
    community_id: str
    visibility: str
    auto_hide_flag_threshold: int
    as_of: datetime


@dataclass(frozen=True)
class MemberJoined:
    meta: EventMeta
    community_id: str
    member_id: str
    role: Role
    as_of: datetime


@dataclass(frozen=True)
class MemberLeft:
    meta: EventMeta
    community_id: str
    member_id: str
    as_of: datetime


@dataclass(frozen=True)
class RoleChanged:
    """A role granted, or the role left after one was revoked: the member's role from ``as_of``."""

    meta: EventMeta
    community_id: str
    member_id: str
    role: Role
    as_of: datetime


@dataclass(frozen=True)
class PersonFollowChanged:
    """One person started (``active``) or stopped following another."""

    meta: EventMeta
    follower_id: str
    followee_id: str
    active: bool
    as_of: datetime

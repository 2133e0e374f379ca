"""Events of other services (and this one's own) that community acts on, with just the fields it reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from guild_common.events.meta import EventMeta


@dataclass(frozen=True)
class PointsChanged:
    """Points given or taken back in a community; ``tags`` are the topics of the post behind them."""

    meta: EventMeta
    entry_id: str
    community_id: str
    member_id: str
    amount: int
    tags: tuple[str, ...]
    time: datetime


@dataclass(frozen=True)
class MemberJoined:
    meta: EventMeta
    community_id: str
    member_id: str


@dataclass(frozen=True)
class MemberLeft:
    meta: EventMeta
    community_id: str
    member_id: str


@dataclass(frozen=True)
class ProfileUpdated:
    """A profile changed; empty ``changed_fields`` means any field may have."""

    meta: EventMeta
    member_id: str
    changed_fields: tuple[str, ...]


@dataclass(frozen=True)
class CommunityUpdated:
    meta: EventMeta
    community_id: str
    changed_fields: tuple[str, ...]

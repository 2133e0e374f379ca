"""Tag follows of a member's personal feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TagFollowed:
    """A member started following a tag (not tied to a community)."""

    member_id: str
    tag: str
    time: datetime


@dataclass(frozen=True)
class TagUnfollowed:
    member_id: str
    tag: str
    time: datetime


MemberEvent = TagFollowed | TagUnfollowed

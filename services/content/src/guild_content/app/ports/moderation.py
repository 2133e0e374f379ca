"""What the moderation use cases need of their store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from guild_common.pagination import Page
from guild_content.domain.community import CommunityView
from guild_content.domain.events import DomainEvent
from guild_content.domain.moderation import Flag, ModerationEntry
from guild_content.domain.posts import PostRef


@dataclass(frozen=True)
class QueueItem:
    post: PostRef
    excerpt: str
    flag_count: int
    reasons: list[str]
    hidden: bool
    queue_time: datetime


class ModerationRepository(Protocol):
    async def add_flag(self, flag: Flag) -> bool:
        """Store the flag; False if the member flagged this post before."""
        ...

    async def count_flags(self, flag: Flag, threshold: int, community: CommunityView) -> tuple[int, bool]:
        """Count a new flag into the post, hide it when flags first reach the threshold; (count, hidden)."""
        ...

    async def set_state(
        self, ref: PostRef, fields: dict[str, bool], event: DomainEvent, community: CommunityView
    ) -> dict[str, Any]:
        """Set hidden or locked on a post with the event for its author; returns the post's state."""
        ...

    async def resolve(self, entry: ModerationEntry, hidden: bool) -> None:
        """Log a moderator's action and take the post off the queue."""
        ...

    async def queue(self, community_id: str, page_size: int, page_token: str) -> Page[QueueItem]: ...

    async def moderation_log(
        self, community_id: str, page_size: int, page_token: str
    ) -> Page[ModerationEntry]: ...

"""What the feeds need of their store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from guild_common.pagination import Page
from guild_content.domain.questions import Question
from guild_content.domain.resources import Resource


@dataclass(frozen=True)
class FeedQuery:
    """One source of a feed: live posts or resources of some communities (or with some tags), in one order.

    ``sort`` is create_time, activity_time or score (always descending, ties by id); ``since`` keeps posts
    created from then on.
    """

    source: str
    sort: str
    community_ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    author_ids: tuple[str, ...] = ()
    since: datetime | None = None


@dataclass(frozen=True)
class FeedEntry:
    post: Question | None
    resource: Resource | None
    # The value the feed sorts by, and the id that breaks ties.
    key: datetime | int
    id: str
    community_id: str
    activity_time: datetime


# What following a tag did: a new follow, nothing (followed already), or nothing (at the limit).
TagFollowResult = Literal["followed", "already", "full"]


class FeedRepository(Protocol):
    async def feed_page(
        self, query: FeedQuery, after: tuple[datetime | int, str] | None, limit: int
    ) -> list[FeedEntry]:
        """Up to ``limit`` entries of the source after the (key, id) position, in feed order."""
        ...

    async def follow_tag(self, member_id: str, tag: str, now: datetime, *, limit: int) -> TagFollowResult:
        """Record the follow with its event, unless the member follows the tag already or ``limit`` tags."""
        ...

    async def unfollow_tag(self, member_id: str, tag: str, now: datetime) -> bool:
        """End the follow with its event; False (no event) if the member did not follow the tag."""
        ...

    async def follows_tag(self, member_id: str, tag: str) -> bool: ...

    async def followed_tags(self, member_id: str, page_size: int, page_token: str) -> Page[str]: ...

    async def followees(self, member_id: str, limit: int) -> list[str]:
        """People the member follows (a read model of community follow events), at most ``limit``."""
        ...


class PersonFollowStore(Protocol):
    async def set_person_follow(
        self, follower_id: str, followee_id: str, active: bool, as_of: datetime
    ) -> None:
        """Record a follow or unfollow unless a later one is recorded already."""
        ...

"""The expert directory: a read model of reputation by topic, kept by ``experts_handlers``, and its query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from guild_common.auth import Principal
from guild_common.errors import Validator
from guild_common.pagination import clamp_page_size
from guild_community.domain.experts import ALL_COMMUNITIES, TOPIC, Expert, normalise_topic


@dataclass(frozen=True)
class ExpertPage:
    experts: list[Expert]
    next_token: str


@dataclass(frozen=True)
class PointsEntry:
    entry_id: str
    community_id: str
    member_id: str
    amount: int
    tags: list[str]
    time: datetime


class ExpertDirectory(Protocol):
    async def add_points(self, entry: PointsEntry) -> None:
        """Record a ledger entry once per (entry, tag) and add its amount to the member's points; a
        repeat changes nothing."""
        ...

    async def refresh(self, scope: str, member_id: str, tags: Sequence[str] = ()) -> None:
        """Bring someone's directory records in ``scope`` (a community id or ALL_COMMUNITIES) up to date
        with their profile and membership: for ``tags`` and every topic they have a record or declared
        expertise in. Order-independent and idempotent (points are counted by ``add_points``)."""
        ...

    async def recount(self, member_id: str, tag: str) -> None:
        """Recount someone's points in ``tag`` across the communities not hidden (after one is hidden or
        shown again)."""
        ...

    async def communities_of(self, member_id: str) -> list[str]: ...

    async def earners_in(self, community_id: str) -> set[tuple[str, str]]:
        """(tag, member id) of everyone who earned points in the community."""
        ...

    async def list_experts(self, scope: str, tag: str, page_size: int, page_token: str) -> ExpertPage: ...


class CommunityVisibility(Protocol):
    async def visible_community(self, caller: Principal, community_id: str) -> object:
        """The community if the caller can see it; NotFound otherwise."""
        ...


class ExpertQueries:
    def __init__(self, directory: ExpertDirectory, communities: CommunityVisibility) -> None:
        self._directory = directory
        self._communities = communities

    async def list_experts(
        self, caller: Principal, community_id: str, tag: str, page_size: int, page_token: str
    ) -> ExpertPage:
        topic = normalise_topic(tag)
        check = Validator()
        check.require(bool(topic), "tag", "must not be empty")
        check.require(
            not topic or bool(TOPIC.match(topic)),
            "tag",
            "1-40 lowercase letters, digits or '-', '_', '+', '#', '.', starting with a letter or digit",
        )
        check.check()
        size = clamp_page_size(page_size, default=20, maximum=100)
        if community_id:
            await self._communities.visible_community(caller, community_id)
        return await self._directory.list_experts(community_id or ALL_COMMUNITIES, topic, size, page_token)

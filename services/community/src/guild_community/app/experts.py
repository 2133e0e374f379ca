"""The expert directory: a read model of reputation by topic, kept by events, and its query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import reputation_events_pb2 as reputation_events
from guild_common.auth import Principal
from guild_common.errors import Validator
from guild_common.events.consumer import EventHandler
from guild_common.events.envelope import Envelope
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


class ExpertEventHandlers:
    """Keep the directory current from reputation's points and community's own people events."""

    def __init__(self, directory: ExpertDirectory) -> None:
        self._directory = directory

    async def points_changed(self, envelope: Envelope) -> None:
        e = envelope.payload(reputation_events.PointsChanged)
        tags = [t for t in dict.fromkeys(normalise_topic(t) for t in e.tags) if t]
        if not tags or not e.entry_id or not e.member_id or not e.community_id:
            return
        time = e.time.ToDatetime(tzinfo=UTC) if e.HasField("time") else envelope.time
        await self._directory.add_points(
            PointsEntry(e.entry_id, e.community_id, e.member_id, e.amount, tags, time)
        )
        await self._directory.refresh(e.community_id, e.member_id, tags)
        await self._directory.refresh(ALL_COMMUNITIES, e.member_id, tags)

    async def member_joined(self, envelope: Envelope) -> None:
        e = envelope.payload(community_events.MemberJoined)
        await self._directory.refresh(e.community_id, e.member_id)

    async def member_left(self, envelope: Envelope) -> None:
        e = envelope.payload(community_events.MemberLeft)
        await self._directory.refresh(e.community_id, e.member_id)

    async def profile_updated(self, envelope: Envelope) -> None:
        e = envelope.payload(community_events.ProfileUpdated)
        if e.changed_fields and "expertise" not in e.changed_fields:
            return
        await self._directory.refresh(ALL_COMMUNITIES, e.member_id)
        for community_id in await self._directory.communities_of(e.member_id):
            await self._directory.refresh(community_id, e.member_id)

    async def community_updated(self, envelope: Envelope) -> None:
        """A community hidden or shown again: its points leave or rejoin the all-communities directory."""
        e = envelope.payload(community_events.CommunityUpdated)
        if "visibility" not in e.changed_fields:
            return
        for tag, member_id in sorted(await self._directory.earners_in(e.community_id)):
            await self._directory.recount(member_id, tag)
            await self._directory.refresh(ALL_COMMUNITIES, member_id, [tag])

    def reputation_handlers(self) -> dict[str, EventHandler]:
        return {"guild.reputation.points_changed.v1": self.points_changed}

    def community_handlers(self) -> dict[str, EventHandler]:
        return {
            "guild.community.member_joined.v1": self.member_joined,
            "guild.community.member_left.v1": self.member_left,
            "guild.community.profile_updated.v1": self.profile_updated,
            "guild.community.community_updated.v1": self.community_updated,
        }

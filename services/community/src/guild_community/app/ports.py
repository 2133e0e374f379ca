"""What the use cases need from storage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from guild_community.domain.model import Community, DomainEvent, Membership, Role


@dataclass(frozen=True)
class MemberPage:
    members: list[Membership]
    next_token: str


class CommunityRepository(Protocol):
    async def add_community(self, community: Community, owner: Membership) -> Community:
        """Store a new community and its owner; returns the stored one if the id already exists.

        Raises ``AlreadyExists`` when the slug is taken by another community."""
        ...

    async def get_community(self, community_id: str) -> Community | None: ...

    async def get_membership(self, community_id: str, member_id: str) -> Membership | None: ...

    async def add_membership(self, membership: Membership, events: list[DomainEvent]) -> bool:
        """Store a new membership with its events; False if it already existed."""
        ...

    async def list_members(
        self, community_id: str, role: Role | None, page_size: int, page_token: str
    ) -> MemberPage: ...

"""What reputation knows of communities: members' roles and each community's visibility."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class RoleDirectory(Protocol):
    async def role(self, community_id: str, member_id: str) -> str | None:
        """The member's role name (member, champion, curator, moderator, owner), or None if not a member."""
        ...

    async def routing(self, community_id: str, member_id: str) -> tuple[str, str]:
        """Region and programme of the community, as known with a membership."""
        ...


class RoleWriter(Protocol):
    async def put(
        self,
        community_id: str,
        member_id: str,
        role: str,
        as_of: datetime,
        *,
        region: str = "",
        programme: str = "",
    ) -> None:
        """Store the member's role (``""`` once they left) unless a newer change is stored."""
        ...


class VisibilityWriter(Protocol):
    async def put(self, community_id: str, visibility: str, as_of: datetime) -> None:
        """Store the community's visibility unless a newer change is stored."""
        ...


class CommunityVisibilities(Protocol):
    async def visibility(self, community_id: str) -> str | None:
        """The community's visibility name, or None when reputation has not heard of its creation."""
        ...

    async def hidden_ids(self) -> frozenset[str]:
        """Every hidden community (may lag a write by a second or two)."""
        ...


class KnownCommunities(Protocol):
    async def known_community(self, community_id: str) -> bool:
        """Whether anyone ever joined or posted in the community."""
        ...

"""Who may read a community's figures: its members and other services; a community nobody ever joined
or posted in is not found."""

from __future__ import annotations

from typing import Protocol

from guild_common.auth import Principal
from guild_common.errors import NotFound, PermissionDenied
from guild_reputation.app.ports import RoleDirectory


class Communities(Protocol):
    async def known_community(self, community_id: str) -> bool:
        """Whether anyone ever joined or posted in the community."""
        ...


class CommunityReaders:
    def __init__(self, communities: Communities, roles: RoleDirectory) -> None:
        self._communities = communities
        self._roles = roles

    async def known(self, community_id: str) -> bool:
        return await self._communities.known_community(community_id)

    async def check(self, caller: Principal, community_id: str) -> None:
        """``NotFound`` for an unknown community; ``PermissionDenied`` unless the caller is a member or
        a service."""
        if not await self.known(community_id):
            raise NotFound(f"no community {community_id} is known", reason="COMMUNITY_NOT_FOUND")
        if caller.is_service or await self._roles.role(community_id, caller.subject) is not None:
            return
        raise PermissionDenied(
            "only the community's members read its figures",
            reason="NOT_COMMUNITY_MEMBER",
            metadata={"required_role": "member", "community_id": community_id},
        )

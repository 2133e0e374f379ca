"""Who may read a community's members-only figures (insights, goals, tag boards, badge definitions):
those who may see it (``visibility``), and of them its members and other services."""

from __future__ import annotations

from guild_common.auth import Principal
from guild_common.errors import PermissionDenied
from guild_reputation.app.ports import RoleDirectory
from guild_reputation.app.visibility import Visibility


class CommunityReaders:
    def __init__(self, visibility: Visibility, roles: RoleDirectory) -> None:
        self._visibility = visibility
        self._roles = roles

    async def check(self, caller: Principal, community_id: str) -> None:
        """``NotFound`` for a community that does not exist or that the caller may not see;
        ``PermissionDenied`` unless the caller is a member or a service."""
        await self._visibility.require(caller, community_id)
        if caller.is_service or await self._roles.role(community_id, caller.subject) is not None:
            return
        raise PermissionDenied(
            "only the community's members read its figures",
            reason="NOT_COMMUNITY_MEMBER",
            metadata={"required_role": "member", "community_id": community_id},
        )

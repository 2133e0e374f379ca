"""Community roles and visibility into the local read models, from community events."""

from __future__ import annotations

from guild_common.events.inbound import Handler
from guild_reputation.app.ports import RoleWriter, VisibilityWriter
from guild_reputation.domain.integration_events import (
    CommunityCreated,
    CommunityUpdated,
    MemberJoined,
    MemberLeft,
    RoleGranted,
    RoleRevoked,
)


class CommunityEventHandlers:
    """Community roles into the local read model, so owners can be recognised without a call, and each
    community's visibility, so hidden ones are answered only to those who may see them."""

    def __init__(self, roles: RoleWriter, visibility: VisibilityWriter) -> None:
        self._roles = roles
        self._visibility = visibility

    async def community_created(self, e: CommunityCreated) -> None:
        if e.visibility:
            await self._visibility.put(e.community_id, e.visibility, e.meta.time)

    async def community_updated(self, e: CommunityUpdated) -> None:
        if e.visibility:
            await self._visibility.put(e.community_id, e.visibility, e.meta.time)

    async def member_joined(self, e: MemberJoined) -> None:
        await self._roles.put(
            e.community_id,
            e.member_id,
            e.role or "member",
            e.meta.time,
            region=e.region,
            programme=e.programme,
        )

    async def role_granted(self, e: RoleGranted) -> None:
        await self._roles.put(
            e.community_id, e.member_id, e.role, e.meta.time, region=e.region, programme=e.programme
        )

    async def role_revoked(self, e: RoleRevoked) -> None:
        await self._roles.put(
            e.community_id,
            e.member_id,
            e.current_role or "member",
            e.meta.time,
            region=e.region,
            programme=e.programme,
        )

    async def member_left(self, e: MemberLeft) -> None:
        await self._roles.put(e.community_id, e.member_id, "", e.meta.time)

    def handlers(self) -> dict[type, Handler]:
        return {
            CommunityCreated: self.community_created,
            CommunityUpdated: self.community_updated,
            MemberJoined: self.member_joined,
            RoleGranted: self.role_granted,
            RoleRevoked: self.role_revoked,
            MemberLeft: self.member_left,
        }

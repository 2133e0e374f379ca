"""Keep the membership read model that decides who sees a community's broadcasts and who leads it."""

from __future__ import annotations

from guild_common.events.inbound import Handler
from guild_notify.app.ports import Memberships
from guild_notify.domain.integration_events import MemberJoined, MemberLeft, RoleGranted, RoleRevoked


class MembershipHandlers:
    def __init__(self, memberships: Memberships) -> None:
        self._memberships = memberships

    async def joined(self, e: MemberJoined) -> None:
        await self._memberships.joined(e.community_id, e.member_id, e.role or "member", e.meta.time)

    async def left(self, e: MemberLeft) -> None:
        await self._memberships.left(e.community_id, e.member_id)

    async def granted(self, e: RoleGranted) -> None:
        await self._memberships.role_changed(e.community_id, e.member_id, e.role, e.meta.time)

    async def revoked(self, e: RoleRevoked) -> None:
        await self._memberships.role_changed(
            e.community_id, e.member_id, e.current_role or "member", e.meta.time
        )

    def handlers(self) -> dict[type, Handler]:
        return {
            MemberJoined: self.joined,
            MemberLeft: self.left,
            RoleGranted: self.granted,
            RoleRevoked: self.revoked,
        }

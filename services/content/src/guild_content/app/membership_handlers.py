"""Handlers of community events that keep the membership read model current. Idempotent upserts,
each applied only when newer than the fact recorded (``as_of``)."""

from __future__ import annotations

from guild_common.events.inbound import Handler
from guild_content.app.ports import MembershipStore
from guild_content.domain.community import CommunityView, MembershipView
from guild_content.domain.integration_events import (
    CommunityCreated,
    CommunityUpdated,
    LifecycleChanged,
    MemberJoined,
    MemberLeft,
    RoleChanged,
)


class MembershipHandlers:
    def __init__(self, read_model: MembershipStore) -> None:
        self._read_model = read_model

    async def community_created(self, event: CommunityCreated) -> None:
        await self._read_model.put_community(
            CommunityView(
                id=event.community_id,
                region=event.region,
                programme=event.programme,
                lifecycle=event.lifecycle,
                visibility=event.visibility,
            ),
            event.as_of,
        )

    async def lifecycle_changed(self, event: LifecycleChanged) -> None:
        await self._read_model.set_lifecycle(event.community_id, event.lifecycle, event.as_of)

    async def community_updated(self, event: CommunityUpdated) -> None:
        """Visibility and the auto-hide flag threshold, which content applies to its own posts."""
        await self._read_model.update_settings(
            event.community_id, event.visibility, event.auto_hide_flag_threshold, event.as_of
        )

    async def member_joined(self, event: MemberJoined) -> None:
        await self._read_model.put_membership(
            MembershipView(community_id=event.community_id, member_id=event.member_id, role=event.role),
            event.as_of,
        )

    async def member_left(self, event: MemberLeft) -> None:
        await self._read_model.remove_membership(event.community_id, event.member_id, event.as_of)

    async def role_changed(self, event: RoleChanged) -> None:
        await self._read_model.set_role(event.community_id, event.member_id, event.role, event.as_of)

    def handlers(self) -> dict[type, Handler]:
        return {
            CommunityCreated: self.community_created,
            LifecycleChanged: self.lifecycle_changed,
            CommunityUpdated: self.community_updated,
            MemberJoined: self.member_joined,
            MemberLeft: self.member_left,
            RoleChanged: self.role_changed,
        }

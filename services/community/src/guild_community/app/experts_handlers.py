"""Keep the expert directory current from reputation's points and community's own people events."""

from __future__ import annotations

from guild_common.events.inbound import Handler
from guild_community.app.ports import ExpertDirectory, PointsEntry
from guild_community.domain.experts import ALL_COMMUNITIES, normalise_topic
from guild_community.domain.integration_events import (
    CommunityUpdated,
    MemberJoined,
    MemberLeft,
    PointsChanged,
    ProfileUpdated,
)


class ExpertEventHandlers:
    def __init__(self, directory: ExpertDirectory) -> None:
        self._directory = directory

    async def points_changed(self, event: PointsChanged) -> None:
        tags = [t for t in dict.fromkeys(normalise_topic(t) for t in event.tags) if t]
        if not tags or not event.entry_id or not event.member_id or not event.community_id:
            return
        await self._directory.add_points(
            PointsEntry(event.entry_id, event.community_id, event.member_id, event.amount, tags, event.time)
        )
        await self._directory.refresh(event.community_id, event.member_id, tags)
        await self._directory.refresh(ALL_COMMUNITIES, event.member_id, tags)

    async def member_joined(self, event: MemberJoined) -> None:
        await self._directory.refresh(event.community_id, event.member_id)

    async def member_left(self, event: MemberLeft) -> None:
        await self._directory.refresh(event.community_id, event.member_id)

    async def profile_updated(self, event: ProfileUpdated) -> None:
        if event.changed_fields and "expertise" not in event.changed_fields:
            return
        await self._directory.refresh(ALL_COMMUNITIES, event.member_id)
        for community_id in await self._directory.communities_of(event.member_id):
            await self._directory.refresh(community_id, event.member_id)

    async def community_updated(self, event: CommunityUpdated) -> None:
        """A community hidden or shown again: its points leave or rejoin the all-communities directory."""
        if "visibility" not in event.changed_fields:
            return
        for tag, member_id in sorted(await self._directory.earners_in(event.community_id)):
            await self._directory.recount(member_id, tag)
            await self._directory.refresh(ALL_COMMUNITIES, member_id, [tag])

    def handlers(self) -> dict[type, Handler]:
        return {
            PointsChanged: self.points_changed,
            MemberJoined: self.member_joined,
            MemberLeft: self.member_left,
            ProfileUpdated: self.profile_updated,
            CommunityUpdated: self.community_updated,
        }

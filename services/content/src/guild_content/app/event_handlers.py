"""Handlers of community events: keep the membership read model current. Idempotent upserts."""

from __future__ import annotations

from guild.events.v1 import community_events_pb2 as events
from guild_common.events.consumer import EventHandler
from guild_common.events.envelope import Envelope
from guild_content.app.ports import MembershipStore
from guild_content.domain.model import CommunityView, MembershipView, Role


class CommunityEventHandlers:
    def __init__(self, read_model: MembershipStore) -> None:
        self._read_model = read_model

    async def community_created(self, envelope: Envelope) -> None:
        e = envelope.payload(events.CommunityCreated)
        await self._read_model.put_community(
            CommunityView(
                id=e.community_id,
                region=e.region,
                programme=e.programme,
                lifecycle=e.lifecycle or "live",
                visibility=e.visibility or "open",
            )
        )

    async def member_joined(self, envelope: Envelope) -> None:
        e = envelope.payload(events.MemberJoined)
        await self._read_model.put_membership(
            MembershipView(community_id=e.community_id, member_id=e.member_id, role=Role(e.role))
        )

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "guild.community.community_created.v1": self.community_created,
            "guild.community.member_joined.v1": self.member_joined,
        }

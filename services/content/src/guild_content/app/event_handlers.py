"""Handlers of community events: keep the membership read model current. Idempotent upserts."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from guild.events.v1 import community_events_pb2 as events
from guild_common.events.consumer import EventHandler, PermanentError
from guild_common.events.envelope import Envelope
from guild_content.app.ports import MembershipStore, PersonFollowStore
from guild_content.domain.model import CommunityView, MembershipView, Role


def _as_of(time: Timestamp, envelope: Envelope) -> datetime:
    """When the fact became true: the payload's time, else the event's."""
    if time.seconds or time.nanos:
        return time.ToDatetime(tzinfo=UTC)
    return envelope.time


def _role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError as exc:
        raise PermanentError(f"unknown role {name!r}") from exc


class CommunityEventHandlers:
    def __init__(self, read_model: MembershipStore, follows: PersonFollowStore) -> None:
        self._read_model = read_model
        self._follows = follows

    async def followed(self, envelope: Envelope) -> None:
        e = envelope.payload(events.Followed)
        await self._follows.set_person_follow(
            e.follower_id, e.followee_id, True, _as_of(e.follow_time, envelope)
        )

    async def unfollowed(self, envelope: Envelope) -> None:
        e = envelope.payload(events.Unfollowed)
        await self._follows.set_person_follow(
            e.follower_id, e.followee_id, False, _as_of(e.unfollow_time, envelope)
        )

    async def community_created(self, envelope: Envelope) -> None:
        e = envelope.payload(events.CommunityCreated)
        await self._read_model.put_community(
            CommunityView(
                id=e.community_id,
                region=e.region,
                programme=e.programme,
                lifecycle=e.lifecycle or "live",
                visibility=e.visibility or "open",
            ),
            _as_of(e.create_time, envelope),
        )

    async def lifecycle_changed(self, envelope: Envelope) -> None:
        e = envelope.payload(events.LifecycleChanged)
        await self._read_model.set_lifecycle(e.community_id, e.lifecycle, _as_of(e.change_time, envelope))

    async def community_updated(self, envelope: Envelope) -> None:
        """Visibility and the auto-hide flag threshold, which content applies to its own posts."""
        e = envelope.payload(events.CommunityUpdated)
        await self._read_model.update_settings(
            e.community_id, e.visibility, e.auto_hide_flag_threshold, _as_of(e.update_time, envelope)
        )

    async def member_joined(self, envelope: Envelope) -> None:
        e = envelope.payload(events.MemberJoined)
        await self._read_model.put_membership(
            MembershipView(community_id=e.community_id, member_id=e.member_id, role=_role(e.role)),
            _as_of(e.join_time, envelope),
        )

    async def member_left(self, envelope: Envelope) -> None:
        e = envelope.payload(events.MemberLeft)
        await self._read_model.remove_membership(e.community_id, e.member_id, _as_of(e.leave_time, envelope))

    async def role_granted(self, envelope: Envelope) -> None:
        e = envelope.payload(events.RoleGranted)
        await self._read_model.set_role(
            e.community_id, e.member_id, _role(e.role), _as_of(e.grant_time, envelope)
        )

    async def role_revoked(self, envelope: Envelope) -> None:
        e = envelope.payload(events.RoleRevoked)
        await self._read_model.set_role(
            e.community_id, e.member_id, _role(e.current_role or "member"), _as_of(e.revoke_time, envelope)
        )

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "guild.community.community_created.v1": self.community_created,
            "guild.community.member_joined.v1": self.member_joined,
            "guild.community.lifecycle_changed.v1": self.lifecycle_changed,
            "guild.community.community_updated.v1": self.community_updated,
            "guild.community.member_left.v1": self.member_left,
            "guild.community.role_granted.v1": self.role_granted,
            "guild.community.role_revoked.v1": self.role_revoked,
            "guild.community.followed.v1": self.followed,
            "guild.community.unfollowed.v1": self.unfollowed,
        }

"""The community events content consumes, decoded from their protobuf payloads into
:mod:`guild_content.domain.integration_events`."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from guild.events.v1 import community_events_pb2 as events
from guild_common.events.inbound import Decoder, Decoders
from guild_common.events.meta import EventMeta
from guild_content.domain.community import Role
from guild_content.domain.integration_events import (
    CommunityCreated,
    CommunityUpdated,
    LifecycleChanged,
    MemberJoined,
    MemberLeft,
    PersonFollowChanged,
    RoleChanged,
)


def _as_of(time: Timestamp, meta: EventMeta) -> datetime:
    """When the fact became true: the payload's time, else the event's."""
    if time.seconds or time.nanos:
        return time.ToDatetime(tzinfo=UTC)
    return meta.time


def _role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError:
        raise ValueError(f"unknown role {name!r}") from None


def _community_created(m: events.CommunityCreated, meta: EventMeta) -> CommunityCreated:
    return CommunityCreated(
        meta,
        community_id=m.community_id,
        region=m.region,
        programme=m.programme,
        lifecycle=m.lifecycle or "live",
        visibility=m.visibility or "open",
        as_of=_as_of(m.create_time, meta),
    )


def _lifecycle_changed(m: events.LifecycleChanged, meta: EventMeta) -> LifecycleChanged:
    return LifecycleChanged(meta, m.community_id, m.lifecycle, _as_of(m.change_time, meta))


def _community_updated(m: events.CommunityUpdated, meta: EventMeta) -> CommunityUpdated:
    return CommunityUpdated(
        meta, m.community_id, m.visibility, m.auto_hide_flag_threshold, _as_of(m.update_time, meta)
    )


def _member_joined(m: events.MemberJoined, meta: EventMeta) -> MemberJoined:
    return MemberJoined(meta, m.community_id, m.member_id, _role(m.role), _as_of(m.join_time, meta))


def _member_left(m: events.MemberLeft, meta: EventMeta) -> MemberLeft:
    return MemberLeft(meta, m.community_id, m.member_id, _as_of(m.leave_time, meta))


def _role_granted(m: events.RoleGranted, meta: EventMeta) -> RoleChanged:
    return RoleChanged(meta, m.community_id, m.member_id, _role(m.role), _as_of(m.grant_time, meta))


def _role_revoked(m: events.RoleRevoked, meta: EventMeta) -> RoleChanged:
    role = _role(m.current_role or "member")
    return RoleChanged(meta, m.community_id, m.member_id, role, _as_of(m.revoke_time, meta))


def _followed(m: events.Followed, meta: EventMeta) -> PersonFollowChanged:
    return PersonFollowChanged(meta, m.follower_id, m.followee_id, True, _as_of(m.follow_time, meta))


def _unfollowed(m: events.Unfollowed, meta: EventMeta) -> PersonFollowChanged:
    return PersonFollowChanged(meta, m.follower_id, m.followee_id, False, _as_of(m.unfollow_time, meta))


DECODERS: Decoders = {
    "guild.community.community_created.v1": Decoder(
        events.CommunityCreated, CommunityCreated, _community_created
    ),
    "guild.community.member_joined.v1": Decoder(events.MemberJoined, MemberJoined, _member_joined),
    "guild.community.lifecycle_changed.v1": Decoder(
        events.LifecycleChanged, LifecycleChanged, _lifecycle_changed
    ),
    "guild.community.community_updated.v1": Decoder(
        events.CommunityUpdated, CommunityUpdated, _community_updated
    ),
    "guild.community.member_left.v1": Decoder(events.MemberLeft, MemberLeft, _member_left),
    "guild.community.role_granted.v1": Decoder(events.RoleGranted, RoleChanged, _role_granted),
    "guild.community.role_revoked.v1": Decoder(events.RoleRevoked, RoleChanged, _role_revoked),
    "guild.community.followed.v1": Decoder(events.Followed, PersonFollowChanged, _followed),
    "guild.community.unfollowed.v1": Decoder(events.Unfollowed, PersonFollowChanged, _unfollowed),
}

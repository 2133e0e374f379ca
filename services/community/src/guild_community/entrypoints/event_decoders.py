"""The events community consumes, decoded from their protobuf payloads into ``domain.integration_events``."""

from __future__ import annotations

from datetime import UTC

from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import reputation_events_pb2 as reputation_events
from guild_common.events.inbound import Decoder, Decoders
from guild_common.events.meta import EventMeta
from guild_community.domain.integration_events import (
    CommunityUpdated,
    MemberJoined,
    MemberLeft,
    PointsChanged,
    ProfileUpdated,
)


def _points_changed(m: reputation_events.PointsChanged, meta: EventMeta) -> PointsChanged:
    time = m.time.ToDatetime(tzinfo=UTC) if m.HasField("time") else meta.time
    return PointsChanged(meta, m.entry_id, m.community_id, m.member_id, m.amount, tuple(m.tags), time)


def _member_joined(m: community_events.MemberJoined, meta: EventMeta) -> MemberJoined:
    return MemberJoined(meta, m.community_id, m.member_id)


def _member_left(m: community_events.MemberLeft, meta: EventMeta) -> MemberLeft:
    return MemberLeft(meta, m.community_id, m.member_id)


def _profile_updated(m: community_events.ProfileUpdated, meta: EventMeta) -> ProfileUpdated:
    return ProfileUpdated(meta, m.member_id, tuple(m.changed_fields))


def _community_updated(m: community_events.CommunityUpdated, meta: EventMeta) -> CommunityUpdated:
    return CommunityUpdated(meta, m.community_id, tuple(m.changed_fields))


DECODERS: Decoders = {
    "guild.reputation.points_changed.v1": Decoder(
        reputation_events.PointsChanged, PointsChanged, _points_changed
    ),
    "guild.community.member_joined.v1": Decoder(community_events.MemberJoined, MemberJoined, _member_joined),
    "guild.community.member_left.v1": Decoder(community_events.MemberLeft, MemberLeft, _member_left),
    "guild.community.profile_updated.v1": Decoder(
        community_events.ProfileUpdated, ProfileUpdated, _profile_updated
    ),
    "guild.community.community_updated.v1": Decoder(
        community_events.CommunityUpdated, CommunityUpdated, _community_updated
    ),
}

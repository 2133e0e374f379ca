"""Protobuf <-> domain mapping for the community API."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from guild.community.v1 import community_pb2 as pb
from guild_common.errors import FieldViolation, InvalidArgument
from guild_community.domain.model import Community, Lifecycle, Membership, Role, Visibility

ROLE_TO_PB = {
    Role.MEMBER: pb.ROLE_MEMBER,
    Role.CHAMPION: pb.ROLE_CHAMPION,
    Role.CURATOR: pb.ROLE_CURATOR,
    Role.MODERATOR: pb.ROLE_MODERATOR,
    Role.OWNER: pb.ROLE_OWNER,
}
ROLE_FROM_PB = {v: k for k, v in ROLE_TO_PB.items()}
VISIBILITY_TO_PB = {
    Visibility.OPEN: pb.VISIBILITY_OPEN,
    Visibility.REQUEST_TO_JOIN: pb.VISIBILITY_REQUEST_TO_JOIN,
    Visibility.INVITE_ONLY: pb.VISIBILITY_INVITE_ONLY,
    Visibility.HIDDEN: pb.VISIBILITY_HIDDEN,
}
VISIBILITY_FROM_PB = {v: k for k, v in VISIBILITY_TO_PB.items()}
LIFECYCLE_TO_PB = {
    Lifecycle.DRAFT: pb.LIFECYCLE_DRAFT,
    Lifecycle.PILOT: pb.LIFECYCLE_PILOT,
    Lifecycle.LIVE: pb.LIFECYCLE_LIVE,
    Lifecycle.ARCHIVED: pb.LIFECYCLE_ARCHIVED,
}


def timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def visibility_from_pb(value: int) -> Visibility:
    if value == pb.VISIBILITY_UNSPECIFIED:
        return Visibility.OPEN
    try:
        return VISIBILITY_FROM_PB[value]  # type: ignore[index]
    except KeyError as exc:
        raise InvalidArgument(
            "unknown visibility", violations=[FieldViolation("visibility", "unknown value")]
        ) from exc


def role_filter_from_pb(value: int) -> Role | None:
    if value == pb.ROLE_UNSPECIFIED:
        return None
    try:
        return ROLE_FROM_PB[value]  # type: ignore[index]
    except KeyError as exc:
        raise InvalidArgument("unknown role", violations=[FieldViolation("role", "unknown value")]) from exc


def community_to_pb(c: Community) -> pb.Community:
    return pb.Community(
        id=c.id,
        slug=c.slug,
        name=c.name,
        description=c.description,
        programme=c.programme,
        region=c.region,
        visibility=VISIBILITY_TO_PB[c.visibility],
        lifecycle=LIFECYCLE_TO_PB[c.lifecycle],
        create_time=timestamp(c.create_time),
        created_by=c.created_by,
        member_count=c.member_count,
    )


def member_to_pb(m: Membership) -> pb.Member:
    return pb.Member(
        community_id=m.community_id,
        member_id=m.member_id,
        role=ROLE_TO_PB[m.role],
        join_time=timestamp(m.join_time),
    )

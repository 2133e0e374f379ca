"""Memberships, join requests and invitations: who belongs to a community and how they came to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from guild_common.vocabulary import Role as Role


class LeaveReason(StrEnum):
    LEFT = "left"
    REMOVED = "removed"
    BANNED = "banned"


@dataclass(frozen=True)
class MemberJoined:
    membership: Membership
    region: str
    programme: str


@dataclass(frozen=True)
class MemberLeft:
    community_id: str
    member_id: str
    reason: LeaveReason
    actor_id: str
    region: str
    programme: str
    time: datetime


@dataclass(frozen=True)
class RoleGranted:
    community_id: str
    member_id: str
    role: Role
    previous_role: Role
    granted_by: str
    region: str
    programme: str
    time: datetime


@dataclass(frozen=True)
class RoleRevoked:
    community_id: str
    member_id: str
    role: Role
    current_role: Role
    revoked_by: str
    region: str
    programme: str
    time: datetime


@dataclass(frozen=True)
class MemberInvited:
    invitation: Invitation
    region: str
    programme: str


@dataclass(frozen=True)
class JoinRequested:
    request: JoinRequest
    region: str
    programme: str


MEMBER_ID_MAX = 128


class Admission(StrEnum):
    """How someone becomes a member."""

    JOIN = "join"  # on their own, in an open community
    REQUEST = "request"  # asking, in a request_to_join community
    APPROVE = "approve"  # a moderator approving a request
    ACCEPT = "accept"  # accepting an invitation
    INVITE = "invite"  # being invited (not yet a member)
    ENROL = "enrol"  # enrolled by an owner


def valid_member_id(member_id: str) -> bool:
    return (
        0 < len(member_id) <= MEMBER_ID_MAX
        and member_id.isprintable()
        and not any(c.isspace() for c in member_id)
    )


@dataclass
class Membership:
    community_id: str
    member_id: str
    role: Role
    join_time: datetime
    # Who enrolled the member without their acceptance (EnrolCohort); empty if they joined themselves.
    enrolled_by: str = ""

    @property
    def key(self) -> str:
        return membership_key(self.community_id, self.member_id)


@dataclass(frozen=True)
class JoinRequest:
    community_id: str
    member_id: str
    create_time: datetime


@dataclass(frozen=True)
class Invitation:
    community_id: str
    member_id: str
    invited_by: str
    create_time: datetime


def membership_key(community_id: str, member_id: str) -> str:
    return f"{community_id}:{member_id}"

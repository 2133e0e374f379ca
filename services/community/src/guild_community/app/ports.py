"""What the use cases need from storage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from guild_community.domain.model import (
    Community,
    DomainEvent,
    Invitation,
    JoinRequest,
    JoinRequested,
    Lifecycle,
    MemberInvited,
    MemberLeft,
    Membership,
    Role,
    Visibility,
)


class CapacityReached(Exception):
    """The community's member cap leaves no seat for the newcomers (checked atomically on store)."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"capped at {cap} members")
        self.cap = cap


class LastOwner(Exception):
    """The change would leave the community without an owner."""


class MembershipChanged(Exception):
    """The membership changed (role, or ended and rejoined) since it was read: read it again."""


@dataclass(frozen=True)
class MemberPage:
    members: list[Membership]
    next_token: str


@dataclass(frozen=True)
class CommunityPage:
    communities: list[Community]
    next_token: str


@dataclass(frozen=True)
class JoinRequestPage:
    requests: list[JoinRequest]
    next_token: str


@dataclass(frozen=True)
class CommunityFilter:
    programme: str = ""
    region: str = ""
    lifecycle: Lifecycle | None = None
    visibility: Visibility | None = None
    # Only communities this person belongs to (hidden ones included); "" for all visible ones.
    member_id: str = ""
    name_prefix: str = ""


class CommunityRepository(Protocol):
    async def add_community(self, community: Community, owner: Membership) -> Community:
        """Store a new community and its owner; returns the stored one if the id already exists.

        Raises ``AlreadyExists`` when the slug is taken by another community."""
        ...

    async def get_community(self, community_id: str) -> Community | None: ...

    async def update_community(self, community_id: str, change: Callable[[Community], None]) -> Community:
        """Read, apply ``change`` (which may raise) and store the community with its new events, atomically
        with respect to other updates of it; NotFound if it does not exist."""
        ...

    async def list_communities(
        self, where: CommunityFilter, page_size: int, page_token: str
    ) -> CommunityPage: ...

    async def get_membership(self, community_id: str, member_id: str) -> Membership | None: ...

    async def add_membership(
        self, membership: Membership, events: list[DomainEvent], *, cap: int = 0
    ) -> bool:
        """Store a new membership with its events; False if it already existed. CapacityReached if
        the community holds ``cap`` members already (0: no cap)."""
        ...

    async def add_memberships(
        self, community: Community, memberships: Sequence[Membership], *, cap: int = 0
    ) -> tuple[int, int]:
        """Store many new memberships (existing ones are kept); (newly stored, member count).
        CapacityReached if they could pass ``cap`` (0: no cap)."""
        ...

    async def existing_members(self, community_id: str, member_ids: Sequence[str]) -> set[str]: ...

    async def banned_among(self, community_id: str, member_ids: Sequence[str]) -> set[str]: ...

    async def remove_membership(self, membership: Membership, event: MemberLeft) -> bool:
        """End the membership as read, publishing ``event``; False if it had already ended.
        MembershipChanged if its role changed since it was read; LastOwner for the last owner."""
        ...

    async def update_membership(
        self,
        community_id: str,
        member_id: str,
        expected: Role,
        role: Role,
        change: Callable[[Membership], list[DomainEvent]],
    ) -> Membership:
        """Change the role from ``expected`` to ``role``, storing the events ``change`` returns, atomically.
        MembershipChanged if the role is not ``expected``; LastOwner if the last owner would go."""
        ...

    async def add_join_request(self, request: JoinRequest, event: JoinRequested) -> JoinRequest: ...

    async def get_join_request(self, community_id: str, member_id: str) -> JoinRequest | None: ...

    async def delete_join_request(self, community_id: str, member_id: str) -> bool: ...

    async def list_join_requests(
        self, community_id: str, page_size: int, page_token: str
    ) -> JoinRequestPage: ...

    async def add_invitation(self, invitation: Invitation, event: MemberInvited) -> Invitation: ...

    async def add_invitations(
        self, invitations: Sequence[Invitation], region: str, programme: str
    ) -> int: ...

    async def get_invitation(self, community_id: str, member_id: str) -> Invitation | None: ...

    async def delete_invitation(self, community_id: str, member_id: str) -> None: ...

    async def add_ban(self, community_id: str, member_id: str, banned_by: str, when: datetime) -> None: ...

    async def is_banned(self, community_id: str, member_id: str) -> bool: ...

    async def list_members(
        self, community_id: str, role: Role | None, page_size: int, page_token: str
    ) -> MemberPage: ...

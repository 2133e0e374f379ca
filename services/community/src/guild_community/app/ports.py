"""What the use cases need from storage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from guild_common.auth import Principal
from guild_common.pagination import Page
from guild_community.domain.communities import Community, DomainEvent, Lifecycle, Visibility
from guild_community.domain.experts import Expert
from guild_community.domain.goals import (
    Goal,
    GoalMetric,
    GoalSet,
    Measurement,
)
from guild_community.domain.membership import (
    Invitation,
    JoinRequest,
    JoinRequested,
    MemberInvited,
    MemberLeft,
    Membership,
    Role,
)
from guild_community.domain.people import (
    Follow,
    PeopleEvent,
    Profile,
)
from guild_community.domain.pilot import PilotComparison, PilotControl
from guild_community.domain.surveys import (
    Answer,
    ResponseSubmitted,
    Survey,
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
    ) -> Page[Community]: ...

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
    ) -> Page[JoinRequest]: ...

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
    ) -> Page[Membership]: ...


@dataclass(frozen=True)
class PointsEntry:
    entry_id: str
    community_id: str
    member_id: str
    amount: int
    tags: list[str]
    time: datetime


class ExpertDirectory(Protocol):
    async def add_points(self, entry: PointsEntry) -> None:
        """Record a ledger entry once per (entry, tag) and add its amount to the member's points; a
        repeat changes nothing."""
        ...

    async def refresh(self, scope: str, member_id: str, tags: Sequence[str] = ()) -> None:
        """Bring someone's directory records in ``scope`` (a community id or ALL_COMMUNITIES) up to date
        with their profile and membership: for ``tags`` and every topic they have a record or declared
        expertise in. Order-independent and idempotent (points are counted by ``add_points``)."""
        ...

    async def recount(self, member_id: str, tag: str) -> None:
        """Recount someone's points in ``tag`` across the communities not hidden (after one is hidden or
        shown again)."""
        ...

    async def communities_of(self, member_id: str) -> list[str]: ...

    async def earners_in(self, community_id: str) -> set[tuple[str, str]]:
        """(tag, member id) of everyone who earned points in the community."""
        ...

    async def list_experts(self, scope: str, tag: str, page_size: int, page_token: str) -> Page[Expert]: ...


class CommunityVisibility(Protocol):
    async def visible_community(self, caller: Principal, community_id: str) -> object:
        """The community if the caller can see it; NotFound otherwise."""
        ...


class GoalRepository(Protocol):
    async def add_goal(self, goal: Goal, event: GoalSet) -> Goal:
        """Store a new goal with its goal_set event; returns the stored one if its id exists already (a
        retried create, which publishes nothing new)."""
        ...

    async def list_goals(self, community_id: str, page_size: int, page_token: str) -> Page[Goal]: ...


class GoalMeasurer(Protocol):
    async def measure(self, community_id: str, metric: GoalMetric, until: datetime) -> Measurement:
        """The metric's value over the 30 days before ``until``; Unavailable when it cannot be had."""
        ...


class PeopleRepository(Protocol):
    async def get_profile(self, member_id: str) -> Profile | None: ...

    async def update_profile(
        self, member_id: str, change: Callable[[Profile], tuple[Profile, list[PeopleEvent]]]
    ) -> Profile:
        """Read (or start) the profile, apply ``change`` and store it with the returned events."""
        ...

    async def add_follow(self, follow: Follow) -> bool: ...

    async def get_follow(self, follower_id: str, followee_id: str) -> Follow | None: ...

    async def remove_follow(self, follow: Follow, now: datetime) -> bool: ...

    async def list_follows(
        self, *, field: str, member_id: str, page_size: int, page_token: str
    ) -> tuple[list[Follow], str]: ...


class PilotControlRepository(Protocol):
    async def set_control(self, control: PilotControl, region: str, programme: str) -> PilotControl:
        """Store ``control`` as the community's next version with its pilot_control_set event."""
        ...

    async def get_control(self, community_id: str) -> PilotControl | None: ...


class PilotComparer(Protocol):
    async def compare(self, community_id: str, since: datetime, until: datetime) -> PilotComparison | None:
        """The pilot beside its control over [since, until); None when not measured yet."""
        ...


class SurveyRepository(Protocol):
    async def add_survey(self, survey: Survey) -> Survey: ...

    async def get_survey(self, survey_id: str) -> Survey | None: ...

    async def update_survey(self, survey_id: str, change: Callable[[Survey], None]) -> Survey: ...

    async def put_response(
        self,
        survey: Survey,
        member_id: str,
        answers: list[Answer],
        now: datetime,
        event: Callable[[bool], ResponseSubmitted],
    ) -> bool: ...

    async def all_answers(self, survey_id: str) -> list[list[Answer]]: ...

    async def free_text(
        self, survey_id: str, question_id: str, page_size: int, page_token: str
    ) -> tuple[list[tuple[str, str]], str]: ...

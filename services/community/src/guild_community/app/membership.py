"""Membership commands and queries: joining, requests, invitations, cohorts, leaving, roles and the roster.

About 480 lines: the twenty commands and queries of one aggregate share its rules (admission, the
pilot cap, keeping the last owner, re-reading a membership another writer changed); apart, they would
repeat them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Validator,
)
from guild_common.pagination import Page, clamp_page_size
from guild_community.app.ports import (
    CapacityReached,
    CommunityRepository,
    LastOwner,
    MembershipChanged,
)
from guild_community.app.visibility import existing_community, visible_community
from guild_community.domain.authorization import ENROL_SCOPE, Action, authorize
from guild_community.domain.communities import (
    Community,
    DomainEvent,
    Lifecycle,
)
from guild_community.domain.membership import (
    Admission,
    Invitation,
    JoinRequest,
    JoinRequested,
    LeaveReason,
    MemberInvited,
    MemberLeft,
    Membership,
    Role,
    RoleGranted,
    RoleRevoked,
    valid_member_id,
)

T = TypeVar("T")

COHORT_MAX = 10_000
# Attempts at a membership change that finds the membership changed by another writer each time.
CHANGE_ATTEMPTS = 8


@dataclass(frozen=True)
class EnrolmentFailure:
    index: int
    member_id: str
    reason: str


@dataclass(frozen=True)
class EnrolmentResult:
    enrolled: int
    already_members: int
    member_count: int
    failures: list[EnrolmentFailure] = field(default_factory=list)


@dataclass(frozen=True)
class InvitationResult:
    invited: int
    already_members: int
    already_invited: int
    failures: list[EnrolmentFailure] = field(default_factory=list)


class MembershipUseCases:
    def __init__(self, repository: CommunityRepository, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._repo = repository
        self._clock = clock

    # Joining

    async def join(self, caller: Principal, community_id: str) -> Membership:
        community = await visible_community(self._repo, caller, community_id)
        existing = await self._repo.get_membership(community_id, caller.subject)
        if existing is not None:
            return existing
        invitation = await self._repo.get_invitation(community_id, caller.subject)
        banned = await self._repo.is_banned(community_id, caller.subject)
        community.check_admission(Admission.JOIN, invited=invitation is not None, banned=banned)
        return await self._admit(community, caller.subject)

    async def request_to_join(self, caller: Principal, community_id: str) -> JoinRequest:
        community = await visible_community(self._repo, caller, community_id)
        if await self._repo.get_membership(community_id, caller.subject) is not None:
            raise AlreadyExists("already a member", reason="ALREADY_MEMBER")
        banned = await self._repo.is_banned(community_id, caller.subject)
        community.check_admission(Admission.REQUEST, banned=banned)
        request = JoinRequest(community_id, caller.subject, self._clock())
        return await self._repo.add_join_request(
            request, JoinRequested(request, community.region, community.programme)
        )

    async def list_join_requests(
        self, caller: Principal, community_id: str, page_size: int, page_token: str
    ) -> Page[JoinRequest]:
        size = clamp_page_size(page_size, default=50, maximum=500)
        community = await visible_community(self._repo, caller, community_id)
        await self._authorize(caller, community, Action.REVIEW_JOIN_REQUESTS)
        return await self._repo.list_join_requests(community_id, size, page_token)

    async def approve_join_request(self, caller: Principal, community_id: str, member_id: str) -> Membership:
        _require_member_id(member_id)
        community = await visible_community(self._repo, caller, community_id)
        await self._authorize(caller, community, Action.REVIEW_JOIN_REQUESTS)
        if await self._repo.get_join_request(community_id, member_id) is None:
            existing = await self._repo.get_membership(community_id, member_id)
            if existing is not None:
                return existing  # approved already
            raise NotFound(f"no join request from {member_id}", reason="JOIN_REQUEST_NOT_FOUND")
        banned = await self._repo.is_banned(community_id, member_id)
        community.check_admission(Admission.APPROVE, banned=banned)
        membership = await self._admit(community, member_id)
        await self._repo.delete_join_request(community_id, member_id)
        return membership

    async def deny_join_request(self, caller: Principal, community_id: str, member_id: str) -> None:
        _require_member_id(member_id)
        community = await visible_community(self._repo, caller, community_id)
        await self._authorize(caller, community, Action.REVIEW_JOIN_REQUESTS)
        if not await self._repo.delete_join_request(community_id, member_id):
            raise NotFound(f"no join request from {member_id}", reason="JOIN_REQUEST_NOT_FOUND")

    async def invite(self, caller: Principal, community_id: str, member_id: str) -> Invitation:
        _require_member_id(member_id)
        community = await visible_community(self._repo, caller, community_id)
        await self._authorize(caller, community, Action.INVITE_MEMBER)
        if await self._repo.get_membership(community_id, member_id) is not None:
            raise AlreadyExists(f"{member_id} is already a member", reason="ALREADY_MEMBER")
        banned = await self._repo.is_banned(community_id, member_id)
        community.check_admission(Admission.INVITE, banned=banned)
        invitation = Invitation(community_id, member_id, caller.subject, self._clock())
        return await self._repo.add_invitation(
            invitation, MemberInvited(invitation, community.region, community.programme)
        )

    async def accept_invitation(self, caller: Principal, community_id: str) -> Membership:
        community = await visible_community(self._repo, caller, community_id)
        existing = await self._repo.get_membership(community_id, caller.subject)
        if existing is not None:
            return existing
        invitation = await self._repo.get_invitation(community_id, caller.subject)
        banned = await self._repo.is_banned(community_id, caller.subject)
        community.check_admission(Admission.ACCEPT, invited=invitation is not None, banned=banned)
        return await self._admit(community, caller.subject)

    async def enrol_cohort(
        self, caller: Principal, community_id: str, member_ids: Sequence[str]
    ) -> EnrolmentResult:
        community = await visible_community(self._repo, caller, community_id)
        await self._authorize_enrolment(caller, community)
        community.check_admission(Admission.ENROL)
        failures, wanted = await self._cohort(community_id, member_ids)
        newcomers = list(wanted)
        if community.lifecycle == Lifecycle.PILOT and community.pilot_cap:
            # Pilots are small: find who is new to check the cap. Otherwise the inserts tell.
            existing = await self._repo.existing_members(community_id, newcomers)
            newcomers = [m for m in newcomers if m not in existing]
            community.check_pilot_cap(len(newcomers))
        now = self._clock()
        memberships = [
            Membership(community_id, m, Role.MEMBER, now, enrolled_by=caller.subject) for m in newcomers
        ]
        try:
            inserted, count = await self._repo.add_memberships(community, memberships, cap=_cap(community))
        except CapacityReached:
            _cap_reached(community)
            raise
        return EnrolmentResult(
            enrolled=inserted,
            already_members=len(wanted) - inserted,
            member_count=count,
            failures=failures,
        )

    async def invite_cohort(
        self, caller: Principal, community_id: str, member_ids: Sequence[str]
    ) -> InvitationResult:
        """Invite many people; each becomes a member only by accepting (pilot caps apply then)."""
        community = await visible_community(self._repo, caller, community_id)
        await self._authorize(caller, community, Action.INVITE_MEMBER)
        community.check_admission(Admission.INVITE)
        failures, wanted = await self._cohort(community_id, member_ids)
        existing = await self._repo.existing_members(community_id, list(wanted))
        now = self._clock()
        invitations = [Invitation(community_id, m, caller.subject, now) for m in wanted if m not in existing]
        invited = await self._repo.add_invitations(invitations, community.region, community.programme)
        return InvitationResult(
            invited=invited,
            already_members=len(existing),
            already_invited=len(invitations) - invited,
            failures=failures,
        )

    async def decline_invitation(self, caller: Principal, community_id: str) -> None:
        await visible_community(self._repo, caller, community_id)
        await self._repo.delete_invitation(community_id, caller.subject)

    async def _authorize_enrolment(self, caller: Principal, community: Community) -> None:
        """Enrolling people without asking them is for HR systems and granted admins only: it makes them
        members at once, and owners read their members' contribution summaries."""
        if ENROL_SCOPE not in caller.scopes:
            raise PermissionDenied(
                f"enrolling people without their acceptance needs the {ENROL_SCOPE} scope; "
                "invite them instead (InviteCohort)",
                reason="ENROL_SCOPE_REQUIRED",
                metadata={"required_scope": ENROL_SCOPE},
            )
        if not caller.is_service:
            await self._authorize(caller, community, Action.ENROL_COHORT)

    async def _cohort(
        self, community_id: str, member_ids: Sequence[str]
    ) -> tuple[list[EnrolmentFailure], dict[str, int]]:
        """The entries refused (invalid or banned, in request order) and the rest, once each, by the
        position of their first entry."""
        if len(member_ids) > COHORT_MAX:
            raise InvalidArgument(
                "too many member ids",
                violations=[_violation("member_ids", f"at most {COHORT_MAX} entries")],
            )
        failures: list[EnrolmentFailure] = []
        wanted: dict[str, int] = {}
        for index, member_id in enumerate(member_ids):
            if not valid_member_id(member_id):
                failures.append(EnrolmentFailure(index, member_id, "INVALID_MEMBER_ID"))
            else:
                wanted.setdefault(member_id, index)
        for member_id in await self._repo.banned_among(community_id, list(wanted)):
            failures.append(EnrolmentFailure(wanted.pop(member_id), member_id, "MEMBER_BANNED"))
        failures.sort(key=lambda f: f.index)
        return failures, wanted

    # Leaving

    async def leave(self, caller: Principal, community_id: str) -> None:
        community = await visible_community(self._repo, caller, community_id)
        membership = await self._repo.get_membership(community_id, caller.subject)
        if membership is None:
            raise NotFound(
                f"{caller.subject} is not a member of {community_id}", reason="MEMBERSHIP_NOT_FOUND"
            )
        authorize(membership.role, Action.LEAVE_COMMUNITY)
        community.check_writable()
        await self._remove(community, membership, LeaveReason.LEFT, caller.subject)

    async def remove(self, caller: Principal, community_id: str, member_id: str, *, ban: bool) -> None:
        _require_member_id(member_id)
        community = await visible_community(self._repo, caller, community_id)
        target = await self._repo.get_membership(community_id, member_id)
        action = Action.BAN_MEMBER if ban else Action.REMOVE_MEMBER
        if target is not None and target.role in (Role.MODERATOR, Role.OWNER):
            action = Action.REMOVE_STAFF
        await self._authorize(caller, community, action)
        if target is None and not ban:
            raise NotFound(f"{member_id} is not a member of {community_id}", reason="MEMBERSHIP_NOT_FOUND")
        community.check_writable()
        reason = LeaveReason.BANNED if ban else LeaveReason.REMOVED
        # An owner goes first, so that refusing the last owner writes nothing; anyone else is banned
        # first, so that they cannot rejoin in between.
        if target is not None and target.role == Role.OWNER:
            await self._remove(community, target, reason, caller.subject)
            target = None
        if ban:
            await self._repo.add_ban(community_id, member_id, caller.subject, self._clock())
            await self._repo.delete_invitation(community_id, member_id)
            await self._repo.delete_join_request(community_id, member_id)
        if target is not None:
            await self._remove(community, target, reason, caller.subject)

    # Roles

    async def grant_role(
        self, caller: Principal, community_id: str, member_id: str, role: Role | None
    ) -> Membership:
        _require_member_id(member_id)
        _require_role(role)
        assert role is not None
        community = await visible_community(self._repo, caller, community_id)
        await self._authorize(caller, community, Action.GRANT_ROLE)
        community.check_writable()
        now = self._clock()

        def grant(m: Membership) -> list[DomainEvent]:
            previous, m.role = m.role, role
            return [
                RoleGranted(
                    community_id,
                    member_id,
                    role,
                    previous,
                    caller.subject,
                    community.region,
                    community.programme,
                    now,
                )
            ]

        for _ in range(CHANGE_ATTEMPTS):
            target = await self._require_membership(community_id, member_id)
            if target.role == role:
                return target
            try:
                return await self._owner_kept(
                    self._repo.update_membership(community_id, member_id, target.role, role, grant)
                )
            except MembershipChanged:
                continue  # changed by another writer since read: decide again on the new state
        raise _changed_too_often(member_id)

    async def revoke_role(
        self, caller: Principal, community_id: str, member_id: str, role: Role | None
    ) -> Membership:
        _require_member_id(member_id)
        _require_role(role)
        assert role is not None
        community = await visible_community(self._repo, caller, community_id)
        await self._authorize(caller, community, Action.REVOKE_ROLE)
        community.check_writable()
        now = self._clock()

        def revoke(m: Membership) -> list[DomainEvent]:
            m.role = Role.MEMBER
            return [
                RoleRevoked(
                    community_id,
                    member_id,
                    role,
                    Role.MEMBER,
                    caller.subject,
                    community.region,
                    community.programme,
                    now,
                )
            ]

        for _ in range(CHANGE_ATTEMPTS):
            target = await self._require_membership(community_id, member_id)
            if target.role != role:
                raise FailedPrecondition(
                    f"{member_id} does not hold the {role.value} role",
                    reason="ROLE_NOT_HELD",
                    metadata={"role": role.value, "current_role": target.role.value},
                )
            try:
                return await self._owner_kept(
                    self._repo.update_membership(community_id, member_id, role, Role.MEMBER, revoke)
                )
            except MembershipChanged:
                continue
        raise _changed_too_often(member_id)

    # Reads

    async def list_members(
        self, caller: Principal, community_id: str, role: Role | None, page_size: int, page_token: str
    ) -> Page[Membership]:
        size = clamp_page_size(page_size, default=50, maximum=500)
        await visible_community(self._repo, caller, community_id)
        return await self._repo.list_members(community_id, role, size, page_token)

    async def get_membership(
        self, caller: Principal, community_id: str, member_id: str
    ) -> tuple[Membership, Community]:
        check = Validator()
        check.require(bool(member_id), "member_id", "must not be empty")
        check.check()
        if member_id != caller.subject and not caller.is_service:
            # People may check others' memberships only in communities they can see.
            await visible_community(self._repo, caller, community_id)
        community = await existing_community(self._repo, community_id)
        membership = await self._repo.get_membership(community_id, member_id)
        if membership is None:
            raise NotFound(f"{member_id} is not a member of {community_id}", reason="MEMBERSHIP_NOT_FOUND")
        return membership, community

    # Helpers

    async def _admit(self, community: Community, member_id: str) -> Membership:
        """Make someone a member (admission already checked); clears their invitation."""
        community.check_pilot_cap(1)
        membership = community.admit(member_id, self._clock())
        try:
            added = await self._repo.add_membership(membership, community.events, cap=_cap(community))
        except CapacityReached:
            _cap_reached(community)
            raise
        if not added:
            stored = await self._repo.get_membership(community.id, member_id)
            if stored is not None:
                return stored
        await self._repo.delete_invitation(community.id, member_id)
        return membership

    def _left(self, community: Community, member_id: str, reason: LeaveReason, actor: str) -> MemberLeft:
        return MemberLeft(
            community.id, member_id, reason, actor, community.region, community.programme, self._clock()
        )

    async def _remove(
        self, community: Community, membership: Membership, reason: LeaveReason, actor: str
    ) -> None:
        """End ``membership`` (as read), reading it again while other writers change it."""
        current: Membership | None = membership
        for _ in range(CHANGE_ATTEMPTS):
            if current is None:
                return  # ended by another writer meanwhile
            event = self._left(community, current.member_id, reason, actor)
            try:
                await self._owner_kept(self._repo.remove_membership(current, event))
                return
            except MembershipChanged:
                current = await self._repo.get_membership(community.id, membership.member_id)
        raise _changed_too_often(membership.member_id)

    @staticmethod
    async def _owner_kept(change: Awaitable[T]) -> T:
        """``change``, which the store refuses if it would take away the community's last owner."""
        try:
            return await change
        except LastOwner as exc:
            raise FailedPrecondition(
                "a community must keep at least one owner; grant ownership to someone else first",
                reason="LAST_OWNER",
            ) from exc

    async def _authorize(self, caller: Principal, community: Community, action: Action) -> Role | None:
        membership = await self._repo.get_membership(community.id, caller.subject)
        role = membership.role if membership is not None else None
        authorize(role, action)
        return role

    async def _require_membership(self, community_id: str, member_id: str) -> Membership:
        membership = await self._repo.get_membership(community_id, member_id)
        if membership is None:
            raise NotFound(f"{member_id} is not a member of {community_id}", reason="MEMBERSHIP_NOT_FOUND")
        return membership


def _cap(community: Community) -> int:
    """The member cap the store enforces on joins: a pilot's, if it has one (0: none)."""
    return community.pilot_cap if community.lifecycle == Lifecycle.PILOT else 0


def _cap_reached(community: Community) -> None:
    """Raise the domain's refusal for a pilot the store found full."""
    replace(community, member_count=community.pilot_cap).check_pilot_cap(1)


def _changed_too_often(member_id: str) -> Aborted:
    return Aborted(f"the membership of {member_id} kept changing; try again", reason="CONCURRENT_CHANGE")


def _violation(field_name: str, description: str) -> FieldViolation:
    return FieldViolation(field_name, description)


def _require_member_id(member_id: str) -> None:
    check = Validator()
    check.require(valid_member_id(member_id), "member_id", "1-128 printable characters without spaces")
    check.check()


def _require_role(role: Role | None) -> None:
    check = Validator()
    check.require(role not in (None, Role.MEMBER), "role", "champion, curator, moderator or owner")
    check.check()

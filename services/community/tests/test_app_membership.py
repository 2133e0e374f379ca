"""Membership use cases on in-memory ports: joining, requests, invitations, cohorts, leaving, bans, roles."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from guild_common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from guild_community.app.membership import CHANGE_ATTEMPTS, COHORT_MAX, EnrolmentFailure
from guild_community.domain.authorization import ENROL_SCOPE
from guild_community.domain.communities import Community, DomainEvent, Lifecycle, Visibility
from guild_community.domain.membership import (
    JoinRequested,
    LeaveReason,
    MemberInvited,
    MemberJoined,
    MemberLeft,
    Membership,
    Role,
    RoleGranted,
    RoleRevoked,
    membership_key,
)

from .memory import (
    MemoryCommunityRepository,
    MemoryCommunityService,
    memory_service,
    new_community,
    person,
    service_caller,
)

OWNER = person("olivia")
HR = service_caller("hr-system", ENROL_SCOPE)


async def _count(svc: MemoryCommunityService, community: Community) -> int:
    return (await svc.communities.get_community(OWNER, community.id)).member_count


async def _roles(svc: MemoryCommunityService, community: Community) -> dict[str, Role]:
    page = await svc.membership.list_members(OWNER, community.id, None, 500, "")
    return {m.member_id: m.role for m in page.items}


async def _staffed(svc: MemoryCommunityService, slug: str, **fields: object) -> Community:
    """A community with owner olivia, moderator mo and member mia."""
    community = await new_community(svc, OWNER, slug, **fields)  # type: ignore[arg-type]
    await svc.membership.enrol_cohort(HR, community.id, ["mo", "mia"])
    await svc.membership.grant_role(OWNER, community.id, "mo", Role.MODERATOR)
    return community


# Joining


async def test_joining_an_open_community_is_counted_published_and_idempotent(
    svc: MemoryCommunityService,
) -> None:
    community = await new_community(svc, OWNER, "open-door")
    before = len(svc.repository.events)
    first = await svc.membership.join(person("ann"), community.id)
    again = await svc.membership.join(person("ann"), community.id)
    assert (first.role, again.join_time) == (Role.MEMBER, first.join_time)
    [event] = svc.repository.events[before:]
    assert isinstance(event, MemberJoined)
    assert event.membership.member_id == "ann"
    assert await _count(svc, community) == 2


@pytest.mark.parametrize(
    ("visibility", "lifecycle", "reason"),
    [
        (Visibility.REQUEST_TO_JOIN, Lifecycle.LIVE, "COMMUNITY_NOT_OPEN"),
        (Visibility.INVITE_ONLY, Lifecycle.LIVE, "COMMUNITY_NOT_OPEN"),
        (Visibility.OPEN, Lifecycle.DRAFT, "COMMUNITY_DRAFT"),
        (Visibility.OPEN, Lifecycle.PILOT, "NOT_IN_COHORT"),
    ],
)
async def test_joining_is_refused_where_the_community_does_not_take_joiners(
    svc: MemoryCommunityService, visibility: Visibility, lifecycle: Lifecycle, reason: str
) -> None:
    community = await new_community(svc, OWNER, "closed", visibility=visibility, lifecycle=lifecycle)
    with pytest.raises(FailedPrecondition) as refused:
        await svc.membership.join(person("ann"), community.id)
    assert refused.value.reason == reason
    assert await svc.repository.get_membership(community.id, "ann") is None
    assert await _count(svc, community) == 1


async def test_a_hidden_community_is_joined_by_invitation_only(svc: MemoryCommunityService) -> None:
    hidden = await new_community(svc, OWNER, "hidden", visibility=Visibility.HIDDEN)
    with pytest.raises(NotFound):
        await svc.membership.join(person("ivy"), hidden.id)
    invitation = await svc.membership.invite(OWNER, hidden.id, "ivy")
    assert invitation.invited_by == "olivia"
    assert isinstance(svc.repository.events[-1], MemberInvited)
    joined = await svc.membership.join(person("ivy"), hidden.id)
    assert joined.member_id == "ivy"
    # The invitation is used up.
    assert await svc.repository.get_invitation(hidden.id, "ivy") is None
    with pytest.raises(AlreadyExists) as again:
        await svc.membership.invite(OWNER, hidden.id, "ivy")
    assert again.value.reason == "ALREADY_MEMBER"


# Join requests


async def test_requests_are_listed_approved_or_denied_by_moderators(svc: MemoryCommunityService) -> None:
    community = await _staffed(svc, "by-request", visibility=Visibility.REQUEST_TO_JOIN)
    before = len(svc.repository.events)
    for who in ("ann", "bob", "ann"):
        request = await svc.membership.request_to_join(person(who), community.id)
        assert request.member_id == who
    assert [type(e) for e in svc.repository.events[before:]] == [JoinRequested, JoinRequested]
    mod = person("mo")
    pending = await svc.membership.list_join_requests(mod, community.id, 0, "")
    assert [r.member_id for r in pending.items] == ["ann", "bob"]
    with pytest.raises(PermissionDenied) as plain:
        await svc.membership.list_join_requests(person("mia"), community.id, 0, "")
    assert plain.value.metadata["required_role"] == "moderator"

    approved = await svc.membership.approve_join_request(mod, community.id, "ann")
    assert approved.role == Role.MEMBER
    assert (await svc.membership.approve_join_request(mod, community.id, "ann")).member_id == "ann"
    await svc.membership.deny_join_request(mod, community.id, "bob")
    with pytest.raises(NotFound) as gone:
        await svc.membership.deny_join_request(mod, community.id, "bob")
    assert gone.value.reason == "JOIN_REQUEST_NOT_FOUND"
    with pytest.raises(NotFound):
        await svc.membership.approve_join_request(mod, community.id, "bob")
    assert list((await svc.membership.list_join_requests(mod, community.id, 0, "")).items) == []
    assert set(await _roles(svc, community)) == {"olivia", "mo", "mia", "ann"}
    with pytest.raises(AlreadyExists) as member:
        await svc.membership.request_to_join(person("ann"), community.id)
    assert member.value.reason == "ALREADY_MEMBER"


async def test_join_requests_page_in_request_order(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "queue", visibility=Visibility.REQUEST_TO_JOIN)
    people = [f"p{n}" for n in range(5)]
    for who in people:
        await svc.membership.request_to_join(person(who), community.id)
    seen: list[str] = []
    token = ""
    while True:
        page = await svc.membership.list_join_requests(OWNER, community.id, 2, token)
        seen += [r.member_id for r in page.items]
        if not (token := page.next_token):
            break
    assert seen == people


async def test_requests_are_refused_where_the_community_takes_none(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "open-one")
    with pytest.raises(FailedPrecondition) as refused:
        await svc.membership.request_to_join(person("ann"), community.id)
    assert refused.value.reason == "REQUESTS_NOT_ACCEPTED"


# Invitations and cohorts


async def test_a_cohort_is_invited_and_each_person_accepts_or_declines(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "cohort", visibility=Visibility.INVITE_ONLY)
    await svc.membership.invite(OWNER, community.id, "ann")
    result = await svc.membership.invite_cohort(OWNER, community.id, ["ann", "bob", "cy", "olivia", "bad id"])
    assert (result.invited, result.already_members, result.already_invited) == (2, 1, 1)
    assert result.failures == [EnrolmentFailure(4, "bad id", "INVALID_MEMBER_ID")]
    invited = [e.invitation.member_id for e in svc.repository.events if isinstance(e, MemberInvited)]
    assert invited == ["ann", "bob", "cy"]
    await svc.membership.accept_invitation(person("bob"), community.id)
    await svc.membership.decline_invitation(person("cy"), community.id)
    with pytest.raises(FailedPrecondition) as declined:
        await svc.membership.accept_invitation(person("cy"), community.id)
    assert declined.value.reason == "NO_INVITATION"
    assert set(await _roles(svc, community)) == {"olivia", "bob"}


async def test_members_outside_the_staff_cannot_invite(svc: MemoryCommunityService) -> None:
    community = await _staffed(svc, "staffed")
    with pytest.raises(PermissionDenied):
        await svc.membership.invite(person("mia"), community.id, "zed")
    with pytest.raises(PermissionDenied):
        await svc.membership.invite_cohort(person("mia"), community.id, ["zed"])
    assert (await svc.membership.invite(person("mo"), community.id, "zed")).invited_by == "mo"


async def test_member_ids_are_checked(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "checked")
    for bad in ("", "has space", "x" * 129):
        with pytest.raises(InvalidArgument) as invalid:
            await svc.membership.invite(OWNER, community.id, bad)
        assert [v.field for v in invalid.value.violations] == ["member_id"]
    with pytest.raises(InvalidArgument) as too_many:
        await svc.membership.invite_cohort(OWNER, community.id, ["p"] * (COHORT_MAX + 1))
    assert [v.field for v in too_many.value.violations] == ["member_ids"]


async def test_enrolling_without_acceptance_needs_the_enrol_scope(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "consent")
    with pytest.raises(PermissionDenied) as owner_alone:
        await svc.membership.enrol_cohort(OWNER, community.id, ["ann"])
    assert owner_alone.value.reason == "ENROL_SCOPE_REQUIRED"
    await svc.membership.join(person("mia"), community.id)
    with pytest.raises(PermissionDenied) as member_with_scope:
        await svc.membership.enrol_cohort(person("mia", ENROL_SCOPE), community.id, ["ann"])
    assert member_with_scope.value.reason == "ROLE_REQUIRED"
    granted = await svc.membership.enrol_cohort(person("olivia", ENROL_SCOPE), community.id, ["ann"])
    assert granted.enrolled == 1
    assert await svc.repository.get_membership(community.id, "ann") is not None


async def test_an_hr_system_enrols_reporting_bad_entries_and_is_idempotent(
    svc: MemoryCommunityService,
) -> None:
    community = await new_community(svc, OWNER, "enrolled")
    await svc.membership.remove(OWNER, community.id, "banned-one", ban=True)
    before = len(svc.repository.events)
    result = await svc.membership.enrol_cohort(
        HR, community.id, ["ann", "bob", "ann", "", "banned-one", "olivia"]
    )
    assert (result.enrolled, result.already_members, result.member_count) == (2, 1, 3)
    assert result.failures == [
        EnrolmentFailure(3, "", "INVALID_MEMBER_ID"),
        EnrolmentFailure(4, "banned-one", "MEMBER_BANNED"),
    ]
    joined = [e.membership for e in svc.repository.events[before:] if isinstance(e, MemberJoined)]
    assert [(m.member_id, m.enrolled_by) for m in joined] == [("ann", "hr-system"), ("bob", "hr-system")]
    again = await svc.membership.enrol_cohort(HR, community.id, ["ann", "bob"])
    assert (again.enrolled, again.already_members, again.member_count) == (0, 2, 3)
    assert len(svc.repository.events) == before + 2
    membership, _ = await svc.membership.get_membership(HR, community.id, "ann")
    assert membership.enrolled_by == "hr-system"


async def test_a_pilot_admits_its_cohort_up_to_its_cap(svc: MemoryCommunityService) -> None:
    pilot = await new_community(svc, OWNER, "pilot", lifecycle=Lifecycle.PILOT, pilot_cap=3)
    with pytest.raises(FailedPrecondition) as too_many:
        await svc.membership.enrol_cohort(HR, pilot.id, ["a1", "a2", "a3"])
    assert too_many.value.reason == "PILOT_CAP_REACHED"
    assert await _count(svc, pilot) == 1
    assert (await svc.membership.enrol_cohort(HR, pilot.id, ["a1"])).member_count == 2
    await svc.membership.invite_cohort(OWNER, pilot.id, ["b1", "b2"])
    await svc.membership.accept_invitation(person("b1"), pilot.id)
    with pytest.raises(FailedPrecondition) as full:
        await svc.membership.accept_invitation(person("b2"), pilot.id)
    assert full.value.reason == "PILOT_CAP_REACHED"
    assert full.value.metadata == {"pilot_cap": "3", "member_count": "3"}
    assert await _count(svc, pilot) == 3
    # Someone already in the pilot re-enrolled changes nothing.
    assert (await svc.membership.enrol_cohort(HR, pilot.id, ["a1"])).already_members == 1


async def test_concurrent_acceptances_never_pass_a_pilot_cap(svc: MemoryCommunityService) -> None:
    pilot = await new_community(svc, OWNER, "race", lifecycle=Lifecycle.PILOT, pilot_cap=4)
    people = [f"r{n}" for n in range(8)]
    await svc.membership.invite_cohort(OWNER, pilot.id, people)
    results = await asyncio.gather(
        *(svc.membership.accept_invitation(person(p), pilot.id) for p in people), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, FailedPrecondition)]
    assert len(refused) == 5
    assert all(r.reason == "PILOT_CAP_REACHED" for r in refused)
    assert await _count(svc, pilot) == 4
    assert len(await _roles(svc, pilot)) == 4


async def test_concurrent_joins_are_all_counted(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "busy")
    await asyncio.gather(*(svc.membership.join(person(f"j{n}"), community.id) for n in range(20)))
    await asyncio.gather(*(svc.membership.join(person(f"j{n}"), community.id) for n in range(20)))
    assert await _count(svc, community) == 21
    assert sum(isinstance(e, MemberJoined) for e in svc.repository.events) == 21


# Leaving, removal, bans


async def test_leaving_publishes_member_left_and_counts_down(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "leavers")
    await svc.membership.join(person("ann"), community.id)
    await svc.membership.leave(person("ann"), community.id)
    event = svc.repository.events[-1]
    assert isinstance(event, MemberLeft)
    assert (event.member_id, event.reason, event.actor_id) == ("ann", LeaveReason.LEFT, "ann")
    assert await _count(svc, community) == 1
    with pytest.raises(NotFound) as again:
        await svc.membership.leave(person("ann"), community.id)
    assert again.value.reason == "MEMBERSHIP_NOT_FOUND"
    # A rejoin is a new membership, at the end of the roster.
    await svc.membership.join(person("bob"), community.id)
    await svc.membership.join(person("ann"), community.id)
    assert list(await _roles(svc, community)) == ["olivia", "bob", "ann"]


async def test_the_last_owner_can_neither_leave_nor_be_demoted(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "kept")
    before = len(svc.repository.events)
    with pytest.raises(FailedPrecondition) as leave:
        await svc.membership.leave(OWNER, community.id)
    assert leave.value.reason == "LAST_OWNER"
    with pytest.raises(FailedPrecondition) as demote:
        await svc.membership.revoke_role(OWNER, community.id, "olivia", Role.OWNER)
    assert demote.value.reason == "LAST_OWNER"
    assert len(svc.repository.events) == before
    await svc.membership.join(person("otto"), community.id)
    await svc.membership.grant_role(OWNER, community.id, "otto", Role.OWNER)
    await svc.membership.leave(OWNER, community.id)
    assert await _roles(svc, community) == {"otto": Role.OWNER}
    with pytest.raises(FailedPrecondition):
        await svc.membership.leave(person("otto"), community.id)


async def test_two_owners_demoting_each_other_at_once_keep_one(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "duel")
    await svc.membership.join(person("otto"), community.id)
    await svc.membership.grant_role(OWNER, community.id, "otto", Role.OWNER)
    results = await asyncio.gather(
        svc.membership.revoke_role(OWNER, community.id, "otto", Role.OWNER),
        svc.membership.revoke_role(person("otto"), community.id, "olivia", Role.OWNER),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1
    assert isinstance(failures[0], FailedPrecondition | PermissionDenied)
    assert list((await _roles(svc, community)).values()).count(Role.OWNER) == 1


async def test_moderators_remove_members_but_only_owners_remove_staff(svc: MemoryCommunityService) -> None:
    community = await _staffed(svc, "moderated")
    await svc.membership.join(person("max"), community.id)
    await svc.membership.grant_role(OWNER, community.id, "max", Role.MODERATOR)
    with pytest.raises(PermissionDenied) as staff:
        await svc.membership.remove(person("mo"), community.id, "max", ban=False)
    assert staff.value.metadata["action"] == "remove_staff"
    with pytest.raises(PermissionDenied):
        await svc.membership.remove(person("mia"), community.id, "mo", ban=False)
    await svc.membership.remove(person("mo"), community.id, "mia", ban=False)
    event = svc.repository.events[-1]
    assert isinstance(event, MemberLeft)
    assert (event.member_id, event.reason, event.actor_id) == ("mia", LeaveReason.REMOVED, "mo")
    await svc.membership.remove(OWNER, community.id, "max", ban=False)
    assert set(await _roles(svc, community)) == {"olivia", "mo"}
    with pytest.raises(NotFound) as missing:
        await svc.membership.remove(OWNER, community.id, "mia", ban=False)
    assert missing.value.reason == "MEMBERSHIP_NOT_FOUND"
    # Removed is not banned: they may join again.
    await svc.membership.join(person("mia"), community.id)


async def test_bans_end_the_membership_and_stick(svc: MemoryCommunityService) -> None:
    community = await _staffed(svc, "banning")
    await svc.membership.remove(person("mo"), community.id, "mia", ban=True)
    event = svc.repository.events[-1]
    assert isinstance(event, MemberLeft)
    assert event.reason == LeaveReason.BANNED
    for attempt in (svc.membership.join, svc.membership.accept_invitation):
        with pytest.raises(FailedPrecondition) as banned:
            await attempt(person("mia"), community.id)
        assert banned.value.reason == "MEMBER_BANNED"
    with pytest.raises(FailedPrecondition):
        await svc.membership.invite(OWNER, community.id, "mia")
    assert (await svc.membership.enrol_cohort(HR, community.id, ["mia"])).failures == [
        EnrolmentFailure(0, "mia", "MEMBER_BANNED")
    ]


async def test_banning_an_outsider_clears_their_request_and_invitation(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "pre-ban", visibility=Visibility.REQUEST_TO_JOIN)
    await svc.membership.request_to_join(person("zed"), community.id)
    await svc.membership.invite(OWNER, community.id, "zed")
    before = len(svc.repository.events)
    await svc.membership.remove(OWNER, community.id, "zed", ban=True)
    assert len(svc.repository.events) == before  # no membership ended
    assert await svc.repository.get_join_request(community.id, "zed") is None
    assert await svc.repository.get_invitation(community.id, "zed") is None
    with pytest.raises(FailedPrecondition) as banned:
        await svc.membership.request_to_join(person("zed"), community.id)
    assert banned.value.reason == "MEMBER_BANNED"


async def test_an_owner_removing_the_other_owner_is_kept_from_removing_the_last(
    svc: MemoryCommunityService,
) -> None:
    community = await new_community(svc, OWNER, "owners")
    await svc.membership.join(person("otto"), community.id)
    await svc.membership.grant_role(OWNER, community.id, "otto", Role.OWNER)
    await svc.membership.remove(OWNER, community.id, "otto", ban=True)
    assert await _roles(svc, community) == {"olivia": Role.OWNER}
    assert await svc.repository.is_banned(community.id, "otto")


# Roles


async def test_roles_are_granted_and_revoked_with_events(svc: MemoryCommunityService) -> None:
    community = await _staffed(svc, "roles")
    before = len(svc.repository.events)
    granted = await svc.membership.grant_role(OWNER, community.id, "mia", Role.CURATOR)
    assert granted.role == Role.CURATOR
    assert (await svc.membership.grant_role(OWNER, community.id, "mia", Role.CURATOR)).role == Role.CURATOR
    await svc.membership.grant_role(OWNER, community.id, "mia", Role.CHAMPION)
    revoked = await svc.membership.revoke_role(OWNER, community.id, "mia", Role.CHAMPION)
    assert revoked.role == Role.MEMBER
    events = svc.repository.events[before:]
    assert [type(e) for e in events] == [RoleGranted, RoleGranted, RoleRevoked]
    first, second, third = events
    assert isinstance(first, RoleGranted)
    assert (first.role, first.previous_role, first.granted_by) == (Role.CURATOR, Role.MEMBER, "olivia")
    assert isinstance(second, RoleGranted)
    assert second.previous_role == Role.CURATOR
    assert isinstance(third, RoleRevoked)
    assert (third.role, third.current_role) == (Role.CHAMPION, Role.MEMBER)
    assert (await _roles(svc, community))["mia"] == Role.MEMBER


async def test_role_changes_are_checked(svc: MemoryCommunityService) -> None:
    community = await _staffed(svc, "role-rules")
    with pytest.raises(InvalidArgument) as member_role:
        await svc.membership.grant_role(OWNER, community.id, "mia", Role.MEMBER)
    assert [v.field for v in member_role.value.violations] == ["role"]
    with pytest.raises(InvalidArgument):
        await svc.membership.revoke_role(OWNER, community.id, "mia", None)
    with pytest.raises(NotFound) as outsider:
        await svc.membership.grant_role(OWNER, community.id, "nobody", Role.CURATOR)
    assert outsider.value.reason == "MEMBERSHIP_NOT_FOUND"
    with pytest.raises(FailedPrecondition) as not_held:
        await svc.membership.revoke_role(OWNER, community.id, "mia", Role.CURATOR)
    assert not_held.value.reason == "ROLE_NOT_HELD"
    assert not_held.value.metadata == {"role": "curator", "current_role": "member"}
    with pytest.raises(PermissionDenied):
        await svc.membership.grant_role(person("mo"), community.id, "mia", Role.CURATOR)


async def test_an_archived_community_refuses_membership_changes(svc: MemoryCommunityService) -> None:
    community = await _staffed(svc, "frozen")
    await svc.communities.change_lifecycle(OWNER, community.id, Lifecycle.ARCHIVED)
    before = len(svc.repository.events)
    attempts = [
        svc.membership.join(person("new"), community.id),
        svc.membership.leave(person("mia"), community.id),
        svc.membership.grant_role(OWNER, community.id, "mia", Role.CURATOR),
        svc.membership.remove(OWNER, community.id, "mia", ban=False),
        svc.membership.invite(OWNER, community.id, "new"),
    ]
    for attempt in attempts:
        with pytest.raises(FailedPrecondition) as archived:
            await attempt
        assert archived.value.reason == "COMMUNITY_ARCHIVED"
    assert len(svc.repository.events) == before


# Reads


async def test_members_page_in_join_order_without_gaps_or_repeats(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "roster")
    people = [f"m{n:02d}" for n in range(11)]
    await svc.membership.enrol_cohort(HR, community.id, people[:6])
    for p in people[6:]:
        await svc.membership.join(person(p), community.id)
    await svc.membership.grant_role(OWNER, community.id, "m03", Role.CURATOR)
    seen: list[str] = []
    token = ""
    while True:
        page = await svc.membership.list_members(person("m00"), community.id, None, 4, token)
        assert len(page.items) <= 4
        seen += [m.member_id for m in page.items]
        if not (token := page.next_token):
            break
    assert seen == ["olivia", *people]
    curators = await svc.membership.list_members(OWNER, community.id, Role.CURATOR, 0, "")
    assert [m.member_id for m in curators.items] == ["m03"]


async def test_members_of_a_hidden_community_are_not_found_for_outsiders(svc: MemoryCommunityService) -> None:
    hidden = await new_community(svc, OWNER, "private", visibility=Visibility.HIDDEN)
    with pytest.raises(NotFound):
        await svc.membership.list_members(person("oscar"), hidden.id, None, 0, "")
    with pytest.raises(NotFound):
        await svc.membership.get_membership(person("oscar"), hidden.id, "olivia")
    # Anyone may ask about themselves, and services about anyone.
    with pytest.raises(NotFound) as self_check:
        await svc.membership.get_membership(person("oscar"), hidden.id, "oscar")
    assert self_check.value.reason == "MEMBERSHIP_NOT_FOUND"
    membership, community = await svc.membership.get_membership(
        service_caller("content"), hidden.id, "olivia"
    )
    assert (membership.role, community.slug) == (Role.OWNER, "private")


async def test_get_membership_needs_a_member_id(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "lookup")
    with pytest.raises(InvalidArgument) as empty:
        await svc.membership.get_membership(OWNER, community.id, "")
    assert [v.field for v in empty.value.violations] == ["member_id"]


# Writers racing a role change


class RoleChangingRepository(MemoryCommunityRepository):
    """The in-memory repository, where another writer changes ``member_id``'s role to ``roles[n]`` just
    before the n-th guarded write of that membership."""

    def __init__(self, member_id: str, roles: list[Role]) -> None:
        super().__init__()
        self.member_id = member_id
        self.roles = roles

    def _interfere(self, community_id: str, member_id: str) -> None:
        stored = self._memberships.get(membership_key(community_id, member_id))
        if member_id == self.member_id and self.roles and stored is not None:
            stored.role = self.roles.pop(0)

    async def update_membership(
        self,
        community_id: str,
        member_id: str,
        expected: Role,
        role: Role,
        change: Callable[[Membership], list[DomainEvent]],
    ) -> Membership:
        self._interfere(community_id, member_id)
        return await super().update_membership(community_id, member_id, expected, role, change)

    async def remove_membership(self, membership: Membership, event: MemberLeft) -> bool:
        self._interfere(membership.community_id, membership.member_id)
        return await super().remove_membership(membership, event)


def _racing(member_id: str, roles: list[Role]) -> MemoryCommunityService:
    return memory_service(repository=RoleChangingRepository(member_id, roles))


async def test_a_role_change_decides_again_on_the_role_another_writer_set() -> None:
    svc = _racing("ann", [Role.CHAMPION])
    community = await new_community(svc, OWNER, "racing")
    await svc.membership.join(person("ann"), community.id)
    before = len(svc.repository.events)
    granted = await svc.membership.grant_role(OWNER, community.id, "ann", Role.CURATOR)
    assert granted.role == Role.CURATOR
    [event] = svc.repository.events[before:]
    assert isinstance(event, RoleGranted)
    assert event.previous_role == Role.CHAMPION  # the role it replaced, read again


async def test_a_grant_that_finds_the_role_already_set_by_another_writer_does_nothing() -> None:
    svc = _racing("ann", [Role.CURATOR])
    community = await new_community(svc, OWNER, "settled")
    await svc.membership.join(person("ann"), community.id)
    before = len(svc.repository.events)
    granted = await svc.membership.grant_role(OWNER, community.id, "ann", Role.CURATOR)
    assert granted.role == Role.CURATOR
    assert len(svc.repository.events) == before


async def test_a_membership_that_keeps_changing_is_aborted() -> None:
    svc = _racing("ann", [Role.CHAMPION, Role.MEMBER] * (CHANGE_ATTEMPTS + 1))
    community = await new_community(svc, OWNER, "churning")
    await svc.membership.join(person("ann"), community.id)
    with pytest.raises(Aborted) as aborted:
        await svc.membership.grant_role(OWNER, community.id, "ann", Role.CURATOR)
    assert aborted.value.reason == "CONCURRENT_CHANGE"


async def test_a_removal_reads_a_changed_membership_again() -> None:
    svc = _racing("ann", [Role.CHAMPION])
    community = await new_community(svc, OWNER, "removal")
    await svc.membership.join(person("ann"), community.id)
    await svc.membership.remove(OWNER, community.id, "ann", ban=False)
    assert await svc.repository.get_membership(community.id, "ann") is None
    event = svc.repository.events[-1]
    assert isinstance(event, MemberLeft)
    assert (event.member_id, event.reason) == ("ann", LeaveReason.REMOVED)
    assert await _count(svc, community) == 1


async def test_concurrent_enrolments_never_pass_a_pilot_cap(svc: MemoryCommunityService) -> None:
    pilot = await new_community(svc, OWNER, "crowded", lifecycle=Lifecycle.PILOT, pilot_cap=5)
    results = await asyncio.gather(
        *(svc.membership.enrol_cohort(HR, pilot.id, [f"b{n}-1", f"b{n}-2"]) for n in range(4)),
        return_exceptions=True,
    )
    enrolled = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, FailedPrecondition)]
    assert (len(enrolled), len(refused)) == (2, 2)
    assert all(r.reason == "PILOT_CAP_REACHED" for r in refused)
    assert await _count(svc, pilot) == 5

"""Membership: requests, invitations, leaving, removal, bans, cohorts and roles."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild.events.v1 import community_events_pb2 as events
from guild_community.domain.authorization import ENROL_SCOPE
from guild_testing.fixtures import auth
from guild_testing.inprocess import RunningService
from guild_testing.status import error_details

from .conftest import EventReader

Stub = api_grpc.CommunityServiceStub
# The owner also holds the scope for enrolling people without asking them (EnrolCohort).
OWNER = auth("olivia", ENROL_SCOPE)


async def _create(stub: Stub, slug: str, visibility: pb.Visibility.ValueType = pb.VISIBILITY_OPEN) -> str:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name=slug, slug=slug, programme="sales", region="amer", visibility=visibility
        ),
        metadata=OWNER,
    )
    return created.community.id


async def _members(stub: Stub, cid: str) -> dict[str, int]:
    page: api.ListMembersResponse = await stub.ListMembers(
        api.ListMembersRequest(community_id=cid, page_size=500), metadata=OWNER
    )
    return {m.member_id: m.role for m in page.members}


async def _count(stub: Stub, cid: str) -> int:
    got: api.GetCommunityResponse = await stub.GetCommunity(
        api.GetCommunityRequest(community_id=cid), metadata=OWNER
    )
    return got.community.member_count


async def test_requests_are_approved_or_denied_by_moderators(stub: Stub, read_events: EventReader) -> None:
    cid = await _create(stub, "by-request", pb.VISIBILITY_REQUEST_TO_JOIN)
    for person in ("ann", "bob", "ann"):
        requested = await stub.RequestToJoin(
            api.RequestToJoinRequest(community_id=cid), metadata=auth(person)
        )
        assert requested.join_request.member_id == person
    pending = await stub.ListJoinRequests(api.ListJoinRequestsRequest(community_id=cid), metadata=OWNER)
    assert [r.member_id for r in pending.join_requests] == ["ann", "bob"]
    approved = await stub.ApproveJoinRequest(
        api.ApproveJoinRequestRequest(community_id=cid, member_id="ann"), metadata=OWNER
    )
    assert approved.member.role == pb.ROLE_MEMBER
    await stub.DenyJoinRequest(api.DenyJoinRequestRequest(community_id=cid, member_id="bob"), metadata=OWNER)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DenyJoinRequest(
            api.DenyJoinRequestRequest(community_id=cid, member_id="bob"), metadata=OWNER
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert (
        await stub.ListJoinRequests(api.ListJoinRequestsRequest(community_id=cid), metadata=OWNER)
    ).join_requests == []
    assert set(await _members(stub, cid)) == {"olivia", "ann"}
    assert await _count(stub, cid) == 2
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.JoinCommunity(api.JoinCommunityRequest(community_id=cid), metadata=auth("cat"))
    assert error_details(caught.value)[0] == "COMMUNITY_NOT_OPEN"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RequestToJoin(api.RequestToJoinRequest(community_id=cid), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    open_cid = await _create(stub, "open-one")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RequestToJoin(api.RequestToJoinRequest(community_id=open_cid), metadata=auth("cat"))
    assert error_details(caught.value)[0] == "REQUESTS_NOT_ACCEPTED"
    received = await read_events("guild.amer.sales.community.join_requested", 2)
    assert [e.payload(events.JoinRequested).member_id for e in received] == ["ann", "bob"]


async def test_hidden_communities_are_joined_by_invitation(stub: Stub, read_events: EventReader) -> None:
    cid = await _create(stub, "hidden-circle", pb.VISIBILITY_HIDDEN)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCommunity(api.GetCommunityRequest(community_id=cid), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    invited = await stub.InviteMember(
        api.InviteMemberRequest(community_id=cid, member_id="ann"), metadata=OWNER
    )
    assert invited.invitation.invited_by == "olivia"
    got = await stub.GetCommunity(api.GetCommunityRequest(community_id=cid), metadata=auth("ann"))
    assert got.community.id == cid
    accepted = await stub.AcceptInvitation(
        api.AcceptInvitationRequest(community_id=cid), metadata=auth("ann")
    )
    assert accepted.member.member_id == "ann"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.InviteMember(api.InviteMemberRequest(community_id=cid, member_id="ann"), metadata=OWNER)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.InviteMember(api.InviteMemberRequest(community_id=cid, member_id="bad id"), metadata=OWNER)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    received = await read_events("guild.amer.sales.community.member_invited", 1)
    invitation = received[0].payload(events.MemberInvited)
    assert (invitation.member_id, invitation.invited_by) == ("ann", "olivia")


async def test_leave_remove_and_ban_emit_member_left_and_bans_stick(
    stub: Stub, read_events: EventReader
) -> None:
    cid = await _create(stub, "leavers")
    await stub.EnrolCohort(
        api.EnrolCohortRequest(community_id=cid, member_ids=["ann", "bob", "cat"]), metadata=OWNER
    )
    await stub.LeaveCommunity(api.LeaveCommunityRequest(community_id=cid), metadata=auth("ann"))
    await stub.RemoveMember(api.RemoveMemberRequest(community_id=cid, member_id="bob"), metadata=OWNER)
    await stub.BanMember(api.BanMemberRequest(community_id=cid, member_id="cat"), metadata=OWNER)
    await stub.BanMember(api.BanMemberRequest(community_id=cid, member_id="dan"), metadata=OWNER)
    assert await _members(stub, cid) == {"olivia": pb.ROLE_OWNER}
    assert await _count(stub, cid) == 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.LeaveCommunity(api.LeaveCommunityRequest(community_id=cid), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    # Left and removed people may come back; banned ones may not, by any route.
    await stub.JoinCommunity(api.JoinCommunityRequest(community_id=cid), metadata=auth("ann"))
    await stub.JoinCommunity(api.JoinCommunityRequest(community_id=cid), metadata=auth("bob"))
    for person in ("cat", "dan"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.JoinCommunity(api.JoinCommunityRequest(community_id=cid), metadata=auth(person))
        assert error_details(caught.value)[0] == "MEMBER_BANNED"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.InviteMember(api.InviteMemberRequest(community_id=cid, member_id="cat"), metadata=OWNER)
    assert error_details(caught.value)[0] == "MEMBER_BANNED"
    enrolled = await stub.EnrolCohort(
        api.EnrolCohortRequest(community_id=cid, member_ids=["cat"]), metadata=OWNER
    )
    assert [(f.member_id, f.reason) for f in enrolled.failures] == [("cat", "MEMBER_BANNED")]
    assert await _count(stub, cid) == 3

    received = await read_events("guild.amer.sales.community.member_left", 3)
    left = [e.payload(events.MemberLeft) for e in received]
    assert [(x.member_id, x.reason, x.actor_id) for x in left] == [
        ("ann", "left", "ann"),
        ("bob", "removed", "olivia"),
        ("cat", "banned", "olivia"),
    ]
    assert received[0].type == "guild.community.member_left.v1"


@pytest.mark.memory_too
async def test_the_last_owner_can_neither_leave_nor_be_demoted(stub: Stub) -> None:
    cid = await _create(stub, "owners")
    await stub.EnrolCohort(api.EnrolCohortRequest(community_id=cid, member_ids=["ann"]), metadata=OWNER)
    refused = [
        stub.LeaveCommunity(api.LeaveCommunityRequest(community_id=cid), metadata=OWNER),
        stub.RevokeRole(
            api.RevokeRoleRequest(community_id=cid, member_id="olivia", role=pb.ROLE_OWNER), metadata=OWNER
        ),
        stub.GrantRole(
            api.GrantRoleRequest(community_id=cid, member_id="olivia", role=pb.ROLE_CURATOR), metadata=OWNER
        ),
        stub.RemoveMember(api.RemoveMemberRequest(community_id=cid, member_id="olivia"), metadata=OWNER),
    ]
    for call in refused:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_details(caught.value)[0] == "LAST_OWNER"
    await stub.GrantRole(
        api.GrantRoleRequest(community_id=cid, member_id="ann", role=pb.ROLE_OWNER), metadata=OWNER
    )
    # Two owners demoting each other at once: one succeeds, the community keeps an owner.
    results = await asyncio.gather(
        stub.RevokeRole(
            api.RevokeRoleRequest(community_id=cid, member_id="ann", role=pb.ROLE_OWNER), metadata=OWNER
        ),
        stub.RevokeRole(
            api.RevokeRoleRequest(community_id=cid, member_id="olivia", role=pb.ROLE_OWNER),
            metadata=auth("ann"),
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, grpc.aio.AioRpcError) for r in results) == 1
    roles = await _members(stub, cid)
    assert sorted(roles.values()).count(pb.ROLE_OWNER) == 1


async def test_an_owner_whose_removal_is_under_way_does_not_count_as_the_remaining_owner(
    stub: Stub, service: RunningService
) -> None:
    cid = await _create(stub, "two-owners")
    await stub.EnrolCohort(api.EnrolCohortRequest(community_id=cid, member_ids=["ann"]), metadata=OWNER)
    await stub.GrantRole(
        api.GrantRoleRequest(community_id=cid, member_id="ann", role=pb.ROLE_OWNER), metadata=OWNER
    )
    # Ann's removal counted her out as an owner and marked her membership leaving, then stopped (a crash)
    # before her departure was recorded: what ``remove_membership`` writes first.
    db = service.app.infra.db
    await db["communities"].update_one({"_id": cid}, {"$inc": {"owner_count": -1}})
    await db["memberships"].update_one({"_id": f"{cid}:ann"}, {"$set": {"leaving": True}})
    # Olivia is the only owner who stays: she cannot leave, and ann's role no longer changes.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.LeaveCommunity(api.LeaveCommunityRequest(community_id=cid), metadata=OWNER)
    assert error_details(caught.value)[0] == "LAST_OWNER"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RevokeRole(
            api.RevokeRoleRequest(community_id=cid, member_id="ann", role=pb.ROLE_OWNER), metadata=OWNER
        )
    assert caught.value.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)
    # Removing ann again finishes her removal without counting her out a second time.
    await stub.RemoveMember(api.RemoveMemberRequest(community_id=cid, member_id="ann"), metadata=OWNER)
    assert await _members(stub, cid) == {"olivia": pb.ROLE_OWNER}
    community = await db["communities"].find_one({"_id": cid})
    assert community is not None
    assert (community["owner_count"], community["member_count"]) == (1, 1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.LeaveCommunity(api.LeaveCommunityRequest(community_id=cid), metadata=OWNER)
    assert error_details(caught.value)[0] == "LAST_OWNER"


async def test_roles_are_granted_and_revoked_with_events(stub: Stub, read_events: EventReader) -> None:
    cid = await _create(stub, "roles")
    await stub.EnrolCohort(
        api.EnrolCohortRequest(community_id=cid, member_ids=["ann", "bob"]), metadata=OWNER
    )
    granted = await stub.GrantRole(
        api.GrantRoleRequest(community_id=cid, member_id="ann", role=pb.ROLE_CHAMPION), metadata=OWNER
    )
    assert granted.member.role == pb.ROLE_CHAMPION
    await stub.GrantRole(
        api.GrantRoleRequest(community_id=cid, member_id="ann", role=pb.ROLE_CURATOR), metadata=OWNER
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RevokeRole(
            api.RevokeRoleRequest(community_id=cid, member_id="ann", role=pb.ROLE_CHAMPION), metadata=OWNER
        )
    assert error_details(caught.value)[0] == "ROLE_NOT_HELD"
    revoked = await stub.RevokeRole(
        api.RevokeRoleRequest(community_id=cid, member_id="ann", role=pb.ROLE_CURATOR), metadata=OWNER
    )
    assert revoked.member.role == pb.ROLE_MEMBER
    for bad_role in (pb.ROLE_UNSPECIFIED, pb.ROLE_MEMBER):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GrantRole(
                api.GrantRoleRequest(community_id=cid, member_id="bob", role=bad_role), metadata=OWNER
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GrantRole(
            api.GrantRoleRequest(community_id=cid, member_id="zed", role=pb.ROLE_CHAMPION), metadata=OWNER
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    champions = await stub.ListMembers(
        api.ListMembersRequest(community_id=cid, role=pb.ROLE_CURATOR), metadata=OWNER
    )
    assert champions.members == []

    everything = await read_events("guild.amer.sales.community.>", 7)
    received = [e for e in everything if ".role_" in e.type]
    assert [e.type for e in received] == [
        "guild.community.role_granted.v1",
        "guild.community.role_granted.v1",
        "guild.community.role_revoked.v1",
    ]
    first, second = (e.payload(events.RoleGranted) for e in received[:2])
    assert (first.role, first.previous_role, first.granted_by) == ("champion", "member", "olivia")
    assert (second.role, second.previous_role) == ("curator", "champion")
    last = received[2].payload(events.RoleRevoked)
    assert (last.member_id, last.role, last.current_role, last.revoked_by) == (
        "ann",
        "curator",
        "member",
        "olivia",
    )


async def test_cohort_enrolment_reports_bad_entries_enrols_the_rest_and_is_idempotent(
    stub: Stub, read_events: EventReader
) -> None:
    cid = await _create(stub, "cohort", pb.VISIBILITY_INVITE_ONLY)
    # Large enough to span two bulk writes; the 10,000 ceiling itself is checked below.
    cohort = [f"starter-{i:05d}" for i in range(1_500)]
    request = api.EnrolCohortRequest(
        community_id=cid, member_ids=[*cohort[:1000], "", "has space", cohort[0], *cohort[1000:]]
    )
    first = await stub.EnrolCohort(request, metadata=OWNER)
    assert first.enrolled_count == 1_500
    assert [(f.index, f.reason) for f in first.failures] == [
        (1000, "INVALID_MEMBER_ID"),
        (1001, "INVALID_MEMBER_ID"),
    ]
    assert first.member_count == 1_501
    again = await stub.EnrolCohort(request, metadata=OWNER)
    assert (again.enrolled_count, again.already_member_count, again.member_count) == (0, 1_500, 1_501)
    assert await _count(stub, cid) == 1_501
    membership = await stub.GetMembership(
        api.GetMembershipRequest(community_id=cid, member_id="starter-01499"), metadata=auth("starter-01499")
    )
    assert membership.member.role == pb.ROLE_MEMBER
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.EnrolCohort(
            api.EnrolCohortRequest(community_id=cid, member_ids=["x"] * 10_001), metadata=OWNER
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    joined = await read_events("guild.amer.sales.community.member_joined", 3)
    assert {e.payload(events.MemberJoined).member_id for e in joined} >= {"olivia"}


@pytest.mark.memory_too
async def test_enrolment_joins_and_leaves_at_once_keep_the_count_exact(stub: Stub) -> None:
    cid = await _create(stub, "busy-cohort")
    cohort = [f"n{i}" for i in range(300)]
    walk_ins = [f"w{i}" for i in range(15)]
    await stub.EnrolCohort(api.EnrolCohortRequest(community_id=cid, member_ids=["n0", "n1"]), metadata=OWNER)
    await asyncio.gather(
        stub.EnrolCohort(api.EnrolCohortRequest(community_id=cid, member_ids=cohort), metadata=OWNER),
        *(stub.JoinCommunity(api.JoinCommunityRequest(community_id=cid), metadata=auth(p)) for p in walk_ins),
        stub.LeaveCommunity(api.LeaveCommunityRequest(community_id=cid), metadata=auth("n0")),
    )
    listed: set[str] = set()
    token = ""
    while True:
        page: api.ListMembersResponse = await stub.ListMembers(
            api.ListMembersRequest(community_id=cid, page_size=500, page_token=token), metadata=OWNER
        )
        listed |= {m.member_id for m in page.members}
        token = page.next_page_token
        if not token:
            break
    assert await _count(stub, cid) == len(listed)
    assert {"olivia", "n299", *walk_ins} <= listed

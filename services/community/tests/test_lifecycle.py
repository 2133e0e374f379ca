"""Lifecycle: draft -> pilot -> live -> archived, pilot cohorts and caps, archived read-only."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild.events.v1 import community_events_pb2 as events
from guild_community.domain.authorization import ENROL_SCOPE
from guild_testing.fixtures import auth
from guild_testing.status import error_details

from .conftest import EventReader

Stub = api_grpc.CommunityServiceStub
# The owner also holds the scope for enrolling people without asking them (EnrolCohort).
OWNER = auth("olivia", ENROL_SCOPE)


async def _create(
    stub: Stub, slug: str, lifecycle: pb.Lifecycle.ValueType = pb.LIFECYCLE_UNSPECIFIED, pilot_cap: int = 0
) -> pb.Community:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name=slug.title(),
            slug=slug,
            programme="induction",
            region="emea",
            lifecycle=lifecycle,
            settings=pb.CommunitySettings(pilot_cap=pilot_cap),
        ),
        metadata=OWNER,
    )
    return created.community


async def _move(stub: Stub, cid: str, lifecycle: pb.Lifecycle.ValueType) -> pb.Community:
    moved: api.ChangeLifecycleResponse = await stub.ChangeLifecycle(
        api.ChangeLifecycleRequest(community_id=cid, lifecycle=lifecycle), metadata=OWNER
    )
    return moved.community


async def test_transitions_follow_the_lifecycle_and_emit_events(stub: Stub, read_events: EventReader) -> None:
    community = await _create(stub, "new-starters", lifecycle=pb.LIFECYCLE_DRAFT)
    assert community.lifecycle == pb.LIFECYCLE_DRAFT
    assert community.settings.auto_hide_flag_threshold == 3
    for bad in (pb.LIFECYCLE_LIVE, pb.LIFECYCLE_ARCHIVED, pb.LIFECYCLE_DRAFT):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _move(stub, community.id, bad)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_details(caught.value)[0] == "INVALID_LIFECYCLE_TRANSITION"
    path = [
        pb.LIFECYCLE_PILOT,
        pb.LIFECYCLE_DRAFT,
        pb.LIFECYCLE_PILOT,
        pb.LIFECYCLE_LIVE,
        pb.LIFECYCLE_ARCHIVED,
    ]
    for step in path:
        assert (await _move(stub, community.id, step)).lifecycle == step
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _move(stub, community.id, pb.LIFECYCLE_LIVE)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    got = await stub.GetCommunity(api.GetCommunityRequest(community_id=community.id), metadata=OWNER)
    assert got.community.lifecycle == pb.LIFECYCLE_ARCHIVED

    received = await read_events("guild.emea.induction.community.lifecycle_changed", 5)
    changes = [e.payload(events.LifecycleChanged) for e in received]
    assert [(c.previous_lifecycle, c.lifecycle) for c in changes] == [
        ("draft", "pilot"),
        ("pilot", "draft"),
        ("draft", "pilot"),
        ("pilot", "live"),
        ("live", "archived"),
    ]
    assert {c.changed_by for c in changes} == {"olivia"}
    assert received[0].type == "guild.community.lifecycle_changed.v1"


@pytest.mark.memory_too
async def test_archived_is_an_invalid_initial_lifecycle(stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _create(stub, "born-archived", lifecycle=pb.LIFECYCLE_ARCHIVED)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.memory_too
async def test_a_pilot_admits_only_its_cohort_up_to_its_cap(stub: Stub) -> None:
    community = await _create(stub, "pilot-group", lifecycle=pb.LIFECYCLE_PILOT, pilot_cap=3)
    cid = community.id
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.JoinCommunity(api.JoinCommunityRequest(community_id=cid), metadata=auth("walk-in"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(caught.value)[0] == "NOT_IN_COHORT"
    for person in ("ann", "bob", "cat"):
        await stub.InviteMember(api.InviteMemberRequest(community_id=cid, member_id=person), metadata=OWNER)
    accepted = await stub.AcceptInvitation(
        api.AcceptInvitationRequest(community_id=cid), metadata=auth("ann")
    )
    assert accepted.member.role == pb.ROLE_MEMBER
    # Joining with a pending invitation accepts it.
    await stub.JoinCommunity(api.JoinCommunityRequest(community_id=cid), metadata=auth("bob"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AcceptInvitation(api.AcceptInvitationRequest(community_id=cid), metadata=auth("cat"))
    assert error_details(caught.value)[0] == "PILOT_CAP_REACHED"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.EnrolCohort(api.EnrolCohortRequest(community_id=cid, member_ids=["dan"]), metadata=OWNER)
    assert error_details(caught.value)[0] == "PILOT_CAP_REACHED"
    # Going live lifts the cap; cat's invitation still stands.
    await _move(stub, cid, pb.LIFECYCLE_LIVE)
    await stub.AcceptInvitation(api.AcceptInvitationRequest(community_id=cid), metadata=auth("cat"))
    got = await stub.GetCommunity(api.GetCommunityRequest(community_id=cid), metadata=OWNER)
    assert got.community.member_count == 4
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AcceptInvitation(api.AcceptInvitationRequest(community_id=cid), metadata=auth("eve"))
    assert error_details(caught.value)[0] == "NO_INVITATION"


@pytest.mark.memory_too
async def test_drafts_cannot_be_joined_but_can_be_prepared(stub: Stub) -> None:
    community = await _create(stub, "draft-group", lifecycle=pb.LIFECYCLE_DRAFT)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.JoinCommunity(api.JoinCommunityRequest(community_id=community.id), metadata=auth("ann"))
    assert error_details(caught.value)[0] == "COMMUNITY_DRAFT"
    enrolled = await stub.EnrolCohort(
        api.EnrolCohortRequest(community_id=community.id, member_ids=["ann"]), metadata=OWNER
    )
    assert enrolled.enrolled_count == 1


@pytest.mark.memory_too
async def test_archived_communities_are_read_only(stub: Stub) -> None:
    community = await _create(stub, "old-group")
    cid = community.id
    await stub.EnrolCohort(
        api.EnrolCohortRequest(community_id=cid, member_ids=["ann", "bob"]), metadata=OWNER
    )
    await stub.InviteMember(api.InviteMemberRequest(community_id=cid, member_id="cat"), metadata=OWNER)
    await _move(stub, cid, pb.LIFECYCLE_ARCHIVED)
    writes = [
        stub.JoinCommunity(api.JoinCommunityRequest(community_id=cid), metadata=auth("zed")),
        stub.AcceptInvitation(api.AcceptInvitationRequest(community_id=cid), metadata=auth("cat")),
        stub.InviteMember(api.InviteMemberRequest(community_id=cid, member_id="dan"), metadata=OWNER),
        stub.EnrolCohort(api.EnrolCohortRequest(community_id=cid, member_ids=["dan"]), metadata=OWNER),
        stub.GrantRole(
            api.GrantRoleRequest(community_id=cid, member_id="ann", role=pb.ROLE_CHAMPION), metadata=OWNER
        ),
        stub.RemoveMember(api.RemoveMemberRequest(community_id=cid, member_id="ann"), metadata=OWNER),
        stub.BanMember(api.BanMemberRequest(community_id=cid, member_id="bob"), metadata=OWNER),
        stub.LeaveCommunity(api.LeaveCommunityRequest(community_id=cid), metadata=auth("ann")),
        stub.UpdateCommunity(
            api.UpdateCommunityRequest(
                community=pb.Community(id=cid, name="Renamed"), update_mask=FieldMask(paths=["name"])
            ),
            metadata=OWNER,
        ),
    ]
    for call in writes:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_details(caught.value)[0] == "COMMUNITY_ARCHIVED"
    members = await stub.ListMembers(api.ListMembersRequest(community_id=cid), metadata=auth("ann"))
    assert sorted(m.member_id for m in members.members) == ["ann", "bob", "olivia"]

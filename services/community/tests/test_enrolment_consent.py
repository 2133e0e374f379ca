"""Consent to membership: owners invite cohorts and people accept or decline; enrolment without asking
is reserved to callers granted the guild.enrol scope, and records who made it."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild.events.v1 import community_events_pb2 as events
from guild_community.domain.authorization import ENROL_SCOPE
from guild_testing.fixtures import auth
from guild_testing.status import details_of

from .conftest import EventReader

Stub = api_grpc.CommunityServiceStub
OWNER = auth("olivia")  # an owner with no enrolment grant
HR_SYSTEM = auth("hr-system", "service", ENROL_SCOPE)


async def _create(
    stub: Stub,
    slug: str,
    visibility: pb.Visibility.ValueType = pb.VISIBILITY_HIDDEN,
    lifecycle: pb.Lifecycle.ValueType = pb.LIFECYCLE_UNSPECIFIED,
    pilot_cap: int = 0,
) -> str:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name=slug,
            slug=slug,
            programme="induction",
            region="emea",
            visibility=visibility,
            lifecycle=lifecycle,
            settings=pb.CommunitySettings(pilot_cap=pilot_cap),
        ),
        metadata=OWNER,
    )
    return created.community.id


async def _member_ids(stub: Stub, cid: str) -> set[str]:
    page: api.ListMembersResponse = await stub.ListMembers(
        api.ListMembersRequest(community_id=cid, page_size=100), metadata=OWNER
    )
    return {m.member_id for m in page.members}


@pytest.mark.memory_too
async def test_an_owner_cannot_enrol_people_without_their_acceptance(stub: Stub) -> None:
    cid = await _create(stub, "managers-circle")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.EnrolCohort(api.EnrolCohortRequest(community_id=cid, member_ids=["ann"]), metadata=OWNER)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    [info] = details_of(caught.value, error_details_pb2.ErrorInfo)
    assert (info.reason, info.metadata["required_scope"]) == ("ENROL_SCOPE_REQUIRED", ENROL_SCOPE)
    assert await _member_ids(stub, cid) == {"olivia"}
    # The scope alone is not enough for a person: they must also own the community.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.EnrolCohort(
            api.EnrolCohortRequest(community_id=cid, member_ids=["ann"]),
            metadata=auth("mallory", ENROL_SCOPE),
        )
    assert caught.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)
    assert await _member_ids(stub, cid) == {"olivia"}


async def test_a_cohort_is_invited_and_each_person_accepts_or_declines(
    stub: Stub, read_events: EventReader
) -> None:
    cid = await _create(stub, "new-starters")
    await stub.BanMember(api.BanMemberRequest(community_id=cid, member_id="troll"), metadata=OWNER)
    request = api.InviteCohortRequest(
        community_id=cid, member_ids=["ann", "bob", "cat", "ann", "bad id", "troll", "olivia"]
    )
    first = await stub.InviteCohort(request, metadata=OWNER)
    assert (first.invited_count, first.already_member_count, first.already_invited_count) == (3, 1, 0)
    assert [(f.index, f.member_id, f.reason) for f in first.failures] == [
        (4, "bad id", "INVALID_MEMBER_ID"),
        (5, "troll", "MEMBER_BANNED"),
    ]
    again = await stub.InviteCohort(request, metadata=OWNER)
    assert (again.invited_count, again.already_member_count, again.already_invited_count) == (0, 1, 3)
    invited = await read_events("guild.emea.induction.community.member_invited", 3)
    assert sorted(e.payload(events.MemberInvited).member_id for e in invited) == ["ann", "bob", "cat"]

    assert await _member_ids(stub, cid) == {"olivia"}  # nobody is a member until they accept
    await stub.AcceptInvitation(api.AcceptInvitationRequest(community_id=cid), metadata=auth("ann"))
    await stub.DeclineInvitation(api.DeclineInvitationRequest(community_id=cid), metadata=auth("cat"))
    await stub.DeclineInvitation(api.DeclineInvitationRequest(community_id=cid), metadata=auth("bob"))
    # The hidden community is gone from bob's view with his invitation.
    for call in (
        stub.AcceptInvitation(api.AcceptInvitationRequest(community_id=cid), metadata=auth("bob")),
        stub.DeclineInvitation(api.DeclineInvitationRequest(community_id=cid), metadata=auth("bob")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    # In a community he can see, accepting without an invitation is refused as such.
    open_cid = await _create(stub, "open-floor", visibility=pb.VISIBILITY_INVITE_ONLY)
    await stub.InviteCohort(
        api.InviteCohortRequest(community_id=open_cid, member_ids=["bob"]), metadata=OWNER
    )
    await stub.DeclineInvitation(api.DeclineInvitationRequest(community_id=open_cid), metadata=auth("bob"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AcceptInvitation(api.AcceptInvitationRequest(community_id=open_cid), metadata=auth("bob"))
    assert details_of(caught.value, error_details_pb2.ErrorInfo)[0].reason == "NO_INVITATION"
    assert await _member_ids(stub, cid) == {"olivia", "ann"}
    joined = await read_events("guild.emea.induction.community.member_joined", 2)
    ann = next(
        e.payload(events.MemberJoined) for e in joined if e.payload(events.MemberJoined).member_id == "ann"
    )
    assert ann.enrolled_by == ""  # she accepted


@pytest.mark.memory_too
async def test_members_outside_the_staff_cannot_invite_a_cohort(stub: Stub) -> None:
    cid = await _create(stub, "sales-floor", visibility=pb.VISIBILITY_OPEN)
    await stub.JoinCommunity(api.JoinCommunityRequest(community_id=cid), metadata=auth("ann"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.InviteCohort(
            api.InviteCohortRequest(community_id=cid, member_ids=["bob"]), metadata=auth("ann")
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.memory_too
async def test_a_pilot_cap_applies_when_invitations_are_accepted(stub: Stub) -> None:
    cid = await _create(stub, "pilot", lifecycle=pb.LIFECYCLE_PILOT, pilot_cap=2)
    invited = await stub.InviteCohort(
        api.InviteCohortRequest(community_id=cid, member_ids=["ann", "bob", "cat"]), metadata=OWNER
    )
    assert invited.invited_count == 3  # inviting more than the cap is allowed; joining is not
    await stub.AcceptInvitation(api.AcceptInvitationRequest(community_id=cid), metadata=auth("ann"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AcceptInvitation(api.AcceptInvitationRequest(community_id=cid), metadata=auth("bob"))
    assert details_of(caught.value, error_details_pb2.ErrorInfo)[0].reason == "PILOT_CAP_REACHED"


async def test_an_hr_system_enrols_and_each_enrolment_names_it(stub: Stub, read_events: EventReader) -> None:
    cid = await _create(stub, "induction-2027")
    enrolled = await stub.EnrolCohort(
        api.EnrolCohortRequest(community_id=cid, member_ids=["dan", "eve"]), metadata=HR_SYSTEM
    )
    assert enrolled.enrolled_count == 2
    assert await _member_ids(stub, cid) == {"olivia", "dan", "eve"}
    joined = await read_events("guild.emea.induction.community.member_joined", 3)
    by_member = {e.payload(events.MemberJoined).member_id: e.payload(events.MemberJoined) for e in joined}
    assert by_member["dan"].enrolled_by == "hr-system"
    assert by_member["eve"].enrolled_by == "hr-system"
    assert by_member["olivia"].enrolled_by == ""

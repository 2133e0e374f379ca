"""ListMembers over many chunks of the roster: order, tokens, leavers, role changes, role filter."""

from __future__ import annotations

import pytest

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild_community.adapters import roster_store
from guild_community.adapters.roster_store import CHUNK
from guild_community.domain.authorization import ENROL_SCOPE
from guild_testing.fixtures import auth

Stub = api_grpc.CommunityServiceStub
# The owner also holds the scope for enrolling people without asking them (EnrolCohort).
OWNER = auth("olivia", ENROL_SCOPE)


async def _all(
    stub: Stub, cid: str, page_size: int, role: pb.Role.ValueType = pb.ROLE_UNSPECIFIED
) -> list[str]:
    seen: list[str] = []
    token = ""
    for _ in range(10_000):
        page: api.ListMembersResponse = await stub.ListMembers(
            api.ListMembersRequest(community_id=cid, role=role, page_size=page_size, page_token=token),
            metadata=OWNER,
        )
        assert len(page.members) <= page_size
        seen.extend(m.member_id for m in page.members)
        token = page.next_page_token
        if not token:
            return seen
    raise AssertionError("no last page")


async def test_members_list_in_join_order_across_chunks(stub: Stub) -> None:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(name="Field sales", slug="field-sales", programme="sales", region="emea"),
        metadata=OWNER,
    )
    cid = created.community.id
    first = [f"p{i:04d}" for i in range(CHUNK + 50)]
    await stub.EnrolCohort(api.EnrolCohortRequest(community_id=cid, member_ids=first), metadata=OWNER)
    # Enrolling again with some already enrolled: only the new ones take new places, in order.
    second = [*first[:10], *(f"q{i:04d}" for i in range(CHUNK))]
    enrolled: api.EnrolCohortResponse = await stub.EnrolCohort(
        api.EnrolCohortRequest(community_id=cid, member_ids=second), metadata=OWNER
    )
    assert enrolled.enrolled_count == CHUNK
    await stub.JoinCommunity(api.JoinCommunityRequest(community_id=cid), metadata=auth("zoe"))
    expected = ["olivia", *first, *second[10:], "zoe"]
    for size in (7, 100, 500):
        assert await _all(stub, cid, size) == expected

    # Leavers disappear, and come back at the end when they rejoin; roles show and filter.
    await stub.LeaveCommunity(api.LeaveCommunityRequest(community_id=cid), metadata=auth("p0003"))
    await stub.RemoveMember(api.RemoveMemberRequest(community_id=cid, member_id="q0100"), metadata=OWNER)
    await stub.GrantRole(
        api.GrantRoleRequest(community_id=cid, member_id="p0200", role=pb.ROLE_CHAMPION), metadata=OWNER
    )
    await stub.GrantRole(
        api.GrantRoleRequest(community_id=cid, member_id="q0005", role=pb.ROLE_CHAMPION), metadata=OWNER
    )
    await stub.JoinCommunity(api.JoinCommunityRequest(community_id=cid), metadata=auth("p0003"))
    expected = [m for m in expected if m not in ("p0003", "q0100")] + ["p0003"]
    assert await _all(stub, cid, 64) == expected
    assert await _all(stub, cid, 1, pb.ROLE_CHAMPION) == ["p0200", "q0005"]
    await stub.RevokeRole(
        api.RevokeRoleRequest(community_id=cid, member_id="p0200", role=pb.ROLE_CHAMPION), metadata=OWNER
    )
    assert await _all(stub, cid, 50, pb.ROLE_CHAMPION) == ["q0005"]
    assert await _all(stub, cid, 50, pb.ROLE_OWNER) == ["olivia"]
    page: api.ListMembersResponse = await stub.ListMembers(
        api.ListMembersRequest(community_id=cid, page_size=3), metadata=OWNER
    )
    assert [(m.member_id, m.role) for m in page.members] == [
        ("olivia", pb.ROLE_OWNER),
        ("p0000", pb.ROLE_MEMBER),
        ("p0001", pb.ROLE_MEMBER),
    ]


async def test_a_filtered_listing_reads_a_bounded_number_of_chunks_per_call(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name="Inside sales", slug="inside-sales", programme="sales", region="emea"
        ),
        metadata=OWNER,
    )
    cid = created.community.id
    people = [f"p{i:04d}" for i in range(2 * CHUNK + 5)]
    await stub.EnrolCohort(api.EnrolCohortRequest(community_id=cid, member_ids=people), metadata=OWNER)
    await stub.GrantRole(
        api.GrantRoleRequest(community_id=cid, member_id=people[-1], role=pb.ROLE_CURATOR), metadata=OWNER
    )
    monkeypatch.setattr(roster_store, "MAX_CHUNKS_PER_PAGE", 1)
    first: api.ListMembersResponse = await stub.ListMembers(
        api.ListMembersRequest(community_id=cid, role=pb.ROLE_CURATOR, page_size=10), metadata=OWNER
    )
    assert list(first.members) == []  # the first chunk has no curator; the token continues
    assert first.next_page_token
    assert await _all(stub, cid, 10, pb.ROLE_CURATOR) == [people[-1]]
    assert await _all(stub, cid, 1000) == ["olivia", *people]

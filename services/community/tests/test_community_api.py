"""The community service over gRPC on real FerretDB and NATS."""

from __future__ import annotations

import asyncio

import grpc
import nats
import pytest

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild.events.v1 import community_events_pb2 as events
from guild_common.events.envelope import Envelope
from guild_testing.fixtures import Infra, auth
from guild_testing.status import expect_request_id_reused, field_violations


def _create(slug: str = "sales-emea", **overrides: object) -> api.CreateCommunityRequest:
    fields: dict[str, object] = {
        "name": "EMEA sales",
        "slug": slug,
        "description": "Field sales learning together",
        "programme": "sales",
        "region": "emea",
    }
    fields.update(overrides)
    return api.CreateCommunityRequest(**fields)  # type: ignore[arg-type]


async def test_create_makes_the_creator_owner_and_is_idempotent_by_request_id(
    stub: api_grpc.CommunityServiceStub,
) -> None:
    created = await stub.CreateCommunity(_create(request_id="r1"), metadata=auth("olivia"))
    again = await stub.CreateCommunity(_create(request_id="r1"), metadata=auth("olivia"))
    assert again.community.id == created.community.id
    # The key is bound to its first request: other content under it is refused, and nothing is made.
    await expect_request_id_reused(
        stub.CreateCommunity(_create("sales-apac", request_id="r1"), metadata=auth("olivia"))
    )
    assert created.community.lifecycle == pb.LIFECYCLE_LIVE
    assert created.community.visibility == pb.VISIBILITY_OPEN
    members = await stub.ListMembers(
        api.ListMembersRequest(community_id=created.community.id), metadata=auth("olivia")
    )
    assert [(m.member_id, m.role) for m in members.members] == [("olivia", pb.ROLE_OWNER)]
    # Another caller's keys are their own.
    other = await stub.CreateCommunity(_create("sales-apac", request_id="r1"), metadata=auth("oscar"))
    assert other.community.id != created.community.id


@pytest.mark.memory_too
async def test_a_refused_request_leaves_its_request_id_free(stub: api_grpc.CommunityServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateCommunity(_create("Not A Slug!", request_id="r2"), metadata=auth("olivia"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "slug" in field_violations(caught.value)
    created = await stub.CreateCommunity(_create(request_id="r2"), metadata=auth("olivia"))
    again = await stub.CreateCommunity(_create(request_id="r2"), metadata=auth("olivia"))
    assert again.community.id == created.community.id


@pytest.mark.memory_too
async def test_join_lists_members_with_roles_and_paginates(stub: api_grpc.CommunityServiceStub) -> None:
    community = (await stub.CreateCommunity(_create(), metadata=auth("olivia"))).community
    for person in ["ann", "bob", "cat", "ann"]:
        joined = await stub.JoinCommunity(
            api.JoinCommunityRequest(community_id=community.id), metadata=auth(person)
        )
        assert joined.member.role == pb.ROLE_MEMBER
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListMembers(
            api.ListMembersRequest(community_id=community.id, page_size=2, page_token=token),
            metadata=auth("ann"),
        )
        seen += [m.member_id for m in page.members]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["olivia", "ann", "bob", "cat"]
    owners = await stub.ListMembers(
        api.ListMembersRequest(community_id=community.id, role=pb.ROLE_OWNER), metadata=auth("ann")
    )
    assert [m.member_id for m in owners.members] == ["olivia"]
    got = await stub.GetCommunity(api.GetCommunityRequest(community_id=community.id), metadata=auth("bob"))
    assert got.community.member_count == 4
    membership = await stub.GetMembership(
        api.GetMembershipRequest(community_id=community.id, member_id="bob"), metadata=auth("bob")
    )
    assert membership.region == "emea"
    assert membership.programme == "sales"


async def test_invalid_fields_are_reported_together_and_nothing_is_written(
    stub: api_grpc.CommunityServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateCommunity(
            _create(slug="X", name="", region="mars", programme="Sales!"), metadata=auth("olivia")
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == {"slug", "name", "region", "programme"}
    created = await stub.CreateCommunity(_create(slug="x-valid"), metadata=auth("olivia"))
    assert created.community.slug == "x-valid"


async def test_errors_for_unauthenticated_missing_taken_and_closed(
    stub: api_grpc.CommunityServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateCommunity(_create())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateCommunity(_create(), metadata=[("authorization", "Bearer not-a-jwt")])
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCommunity(api.GetCommunityRequest(community_id="nope"), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    await stub.CreateCommunity(_create(slug="taken"), metadata=auth("olivia"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateCommunity(_create(slug="taken"), metadata=auth("zed"))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    closed = await stub.CreateCommunity(
        _create(slug="closed", visibility=pb.VISIBILITY_INVITE_ONLY), metadata=auth("olivia")
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.JoinCommunity(
            api.JoinCommunityRequest(community_id=closed.community.id), metadata=auth("ann")
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMembership(
            api.GetMembershipRequest(community_id=closed.community.id, member_id="ann"), metadata=auth("ann")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.memory_too
async def test_hidden_community_is_not_found_for_outsiders(stub: api_grpc.CommunityServiceStub) -> None:
    hidden = await stub.CreateCommunity(
        _create(slug="secret", visibility=pb.VISIBILITY_HIDDEN), metadata=auth("olivia")
    )
    got = await stub.GetCommunity(
        api.GetCommunityRequest(community_id=hidden.community.id), metadata=auth("olivia")
    )
    assert got.community.slug == "secret"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCommunity(
            api.GetCommunityRequest(community_id=hidden.community.id), metadata=auth("ann")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_writes_publish_versioned_events_on_the_region_and_programme_subject(
    stub: api_grpc.CommunityServiceStub, infra: Infra
) -> None:
    community = (await stub.CreateCommunity(_create(), metadata=auth("olivia"))).community
    await stub.JoinCommunity(api.JoinCommunityRequest(community_id=community.id), metadata=auth("ann"))
    nc = await nats.connect(infra.nats_url)
    sub = await nc.jetstream().pull_subscribe("guild.emea.sales.community.>", stream="GUILD_COMMUNITY")
    received: list[Envelope] = []
    for _ in range(40):
        try:
            for msg in await sub.fetch(10, timeout=0.25):
                received.append(Envelope.from_message(msg.subject, msg.headers, msg.data))
                await msg.ack()
        except nats.errors.TimeoutError:
            await asyncio.sleep(0)
        if len(received) >= 3:
            break
    await nc.close()
    assert [e.type for e in received] == [
        "guild.community.community_created.v1",
        "guild.community.member_joined.v1",
        "guild.community.member_joined.v1",
    ]
    assert received[0].topic == "guild.emea.sales.community.community_created"
    assert received[0].payload(events.CommunityCreated).slug == "sales-emea"
    joined = [e.payload(events.MemberJoined) for e in received[1:]]
    assert [(j.member_id, j.role) for j in joined] == [("olivia", "owner"), ("ann", "member")]


@pytest.mark.memory_too
async def test_concurrent_joins_are_all_counted(stub: api_grpc.CommunityServiceStub) -> None:
    community = (await stub.CreateCommunity(_create(slug="busy"), metadata=auth("olivia"))).community
    people = [f"p{i}" for i in range(25)]
    await asyncio.gather(
        *(
            stub.JoinCommunity(api.JoinCommunityRequest(community_id=community.id), metadata=auth(p))
            for p in people
        )
    )
    got = await stub.GetCommunity(api.GetCommunityRequest(community_id=community.id), metadata=auth("olivia"))
    assert got.community.member_count == 26

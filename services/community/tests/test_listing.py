"""ListCommunities filters, search and pagination; UpdateCommunity with an update mask."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild.events.v1 import community_events_pb2 as events
from guild_testing.fixtures import auth
from guild_testing.status import field_violations

from .conftest import EventReader

Stub = api_grpc.CommunityServiceStub
OWNER = auth("olivia")


async def _create(
    stub: Stub,
    name: str,
    programme: str,
    region: str,
    visibility: pb.Visibility.ValueType = pb.VISIBILITY_OPEN,
    lifecycle: pb.Lifecycle.ValueType = pb.LIFECYCLE_UNSPECIFIED,
) -> str:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name=name,
            slug=name.lower().replace(" ", "-"),
            programme=programme,
            region=region,
            visibility=visibility,
            lifecycle=lifecycle,
        ),
        metadata=OWNER,
    )
    return created.community.id


async def _names(stub: Stub, caller: str = "ann", page_size: int = 0, **filters: object) -> list[str]:
    names: list[str] = []
    token = ""
    while True:
        page: api.ListCommunitiesResponse = await stub.ListCommunities(
            api.ListCommunitiesRequest(page_size=page_size, page_token=token, **filters),  # type: ignore[arg-type]
            metadata=auth(caller),
        )
        names += [c.name for c in page.communities]
        token = page.next_page_token
        if not token:
            return names


@pytest.mark.memory_too
async def test_list_filters_searches_and_paginates(stub: Stub) -> None:
    await _create(stub, "Sales EMEA", "sales", "emea")
    await _create(stub, "sales amer", "sales", "amer", visibility=pb.VISIBILITY_REQUEST_TO_JOIN)
    await _create(stub, "Salesforce tips", "sales", "apac", lifecycle=pb.LIFECYCLE_PILOT)
    await _create(stub, "New starters", "induction", "emea", lifecycle=pb.LIFECYCLE_DRAFT)
    secret = await _create(stub, "Sales leaders", "management", "emea", visibility=pb.VISIBILITY_HIDDEN)
    await _create(stub, "Nursing CPD", "healthcare_cpd", "amer")

    everyone = ["New starters", "Nursing CPD", "sales amer", "Sales EMEA", "Salesforce tips"]
    assert await _names(stub) == everyone
    assert await _names(stub, page_size=2) == everyone
    assert await _names(stub, name_prefix="SALES") == ["sales amer", "Sales EMEA", "Salesforce tips"]
    assert await _names(stub, name_prefix="sales ") == ["sales amer", "Sales EMEA"]
    assert await _names(stub, programme="sales", region="emea") == ["Sales EMEA"]
    assert await _names(stub, lifecycle=pb.LIFECYCLE_PILOT) == ["Salesforce tips"]
    assert await _names(stub, visibility=pb.VISIBILITY_REQUEST_TO_JOIN) == ["sales amer"]
    assert await _names(stub, visibility=pb.VISIBILITY_HIDDEN) == []
    # The owner sees their hidden community among their own.
    assert "Sales leaders" in await _names(stub, caller="olivia", mine=True)
    assert await _names(stub, caller="ann", mine=True) == []
    await stub.InviteMember(api.InviteMemberRequest(community_id=secret, member_id="ann"), metadata=OWNER)
    await stub.AcceptInvitation(api.AcceptInvitationRequest(community_id=secret), metadata=auth("ann"))
    assert await _names(stub, caller="ann", mine=True) == ["Sales leaders"]
    assert await _names(stub, caller="ann", mine=True, name_prefix="nurs") == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListCommunities(api.ListCommunitiesRequest(page_token="garbage!"), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_update_applies_only_masked_fields_and_emits_an_event(
    stub: Stub, read_events: EventReader
) -> None:
    cid = await _create(stub, "Healthcare CPD", "healthcare_cpd", "apac")
    updated: api.UpdateCommunityResponse = await stub.UpdateCommunity(
        api.UpdateCommunityRequest(
            community=pb.Community(
                id=cid,
                name="Nursing CPD",
                description="ignored: not in the mask",
                visibility=pb.VISIBILITY_REQUEST_TO_JOIN,
                settings=pb.CommunitySettings(auto_hide_flag_threshold=5, pilot_cap=40),
            ),
            update_mask=FieldMask(paths=["name", "visibility", "settings.auto_hide_flag_threshold"]),
        ),
        metadata=OWNER,
    )
    c = updated.community
    assert (c.name, c.description, c.visibility) == ("Nursing CPD", "", pb.VISIBILITY_REQUEST_TO_JOIN)
    assert (c.settings.auto_hide_flag_threshold, c.settings.pilot_cap) == (5, 0)
    got: api.GetCommunityResponse = await stub.GetCommunity(
        api.GetCommunityRequest(community_id=cid), metadata=OWNER
    )
    assert got.community.settings.auto_hide_flag_threshold == 5
    assert await _names(stub, name_prefix="nurs") == ["Nursing CPD"]

    for mask, field in [
        (["slug"], "update_mask"),
        ([], "update_mask"),
        (["settings"], "settings.auto_hide_flag_threshold"),
        (["name"], "name"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateCommunity(
                api.UpdateCommunityRequest(community=pb.Community(id=cid), update_mask=FieldMask(paths=mask)),
                metadata=OWNER,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, mask
        assert field in field_violations(caught.value), mask
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateCommunity(
            api.UpdateCommunityRequest(
                community=pb.Community(id="nope", name="x"), update_mask=FieldMask(paths=["name"])
            ),
            metadata=OWNER,
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    received = await read_events("guild.apac.healthcare_cpd.community.community_updated", 1)
    assert received[0].type == "guild.community.community_updated.v1"
    payload = received[0].payload(events.CommunityUpdated)
    assert (payload.name, payload.visibility, payload.auto_hide_flag_threshold) == (
        "Nursing CPD",
        "request_to_join",
        5,
    )
    assert list(payload.changed_fields) == ["name", "visibility", "settings.auto_hide_flag_threshold"]
    assert payload.updated_by == "olivia"

"""The expert directory over gRPC: reputation by topic from points events, declared expertise, ranking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import nats
import pytest
import pytest_asyncio
from google.protobuf.field_mask_pb2 import FieldMask
from nats.js import JetStreamContext

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild.events.v1 import reputation_events_pb2 as reputation_events
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.publisher import JetStreamPublisher
from guild_common.events.streams import ensure_stream, stream_config
from guild_community.domain.authorization import ENROL_SCOPE
from guild_testing.fixtures import Infra, auth
from guild_testing.inprocess import RunningService

Stub = api_grpc.CommunityServiceStub
# The owner also holds the scope for enrolling people without asking them (EnrolCohort).
OWNER = auth("olivia", ENROL_SCOPE)
MARKER = "zz-marker"
TOPIC = "machine-learning"
Row = tuple[str, bool, int, int]


@pytest_asyncio.fixture
async def js(infra: Infra, service: RunningService) -> AsyncIterator[JetStreamContext]:
    # The reputation stream, as the reputation service makes it (a consumer waits for it, never makes it).
    nc = await nats.connect(infra.nats_url)
    await ensure_stream(
        nc.jetstream(), stream_config("reputation", max_age_days=1, duplicate_window_seconds=60)
    )
    yield nc.jetstream()
    await nc.close()


async def _points(
    js: JetStreamContext, entry_id: str, community_id: str, member_id: str, amount: int, tags: list[str]
) -> Envelope:
    envelope = new_envelope(
        service="reputation",
        name="points_changed",
        payload=reputation_events.PointsChanged(
            entry_id=entry_id, community_id=community_id, member_id=member_id, amount=amount, tags=tags
        ),
        subject=member_id,
        region="emea",
        programme="sales",
    )
    await JetStreamPublisher(js).publish(envelope)
    return envelope


async def _community(stub: Stub, slug: str, visibility: pb.Visibility.ValueType, people: list[str]) -> str:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name=slug, slug=slug, programme="sales", region="emea", visibility=visibility
        ),
        metadata=OWNER,
    )
    cid = created.community.id
    await stub.EnrolCohort(api.EnrolCohortRequest(community_id=cid, member_ids=people), metadata=OWNER)
    return cid


async def _declare(stub: Stub, person: str, expertise: list[str], job_title: str = "") -> None:
    await stub.UpdateProfile(
        api.UpdateProfileRequest(
            profile=pb.Profile(display_name=person.title(), job_title=job_title, expertise=expertise),
            update_mask=FieldMask(paths=["display_name", "job_title", "expertise"]),
        ),
        metadata=auth(person),
    )


async def _experts(
    stub: Stub, community_id: str, tag: str, caller: str = "olivia", page_size: int = 0, token: str = ""
) -> api.ListExpertsResponse:
    response: api.ListExpertsResponse = await stub.ListExperts(
        api.ListExpertsRequest(community_id=community_id, tag=tag, page_size=page_size, page_token=token),
        metadata=auth(caller),
    )
    return response


def _rows(response: api.ListExpertsResponse) -> list[Row]:
    return [(e.member_id, e.declared, e.points, e.score) for e in response.experts]


async def _until(stub: Stub, community_id: str, tag: str, expected: list[Row]) -> None:
    """Poll (events are handled asynchronously) until the directory lists ``expected``; 20 s deadline."""
    deadline = asyncio.get_running_loop().time() + 20
    rows: list[Row] = []
    while asyncio.get_running_loop().time() < deadline:
        rows = _rows(await _experts(stub, community_id, tag))
        if rows == expected:
            return
        await asyncio.sleep(0.1)
    assert rows == expected


async def test_experts_rank_declared_and_earned_expertise_by_topic(stub: Stub, js: JetStreamContext) -> None:
    cid = await _community(stub, "data-guild", pb.VISIBILITY_OPEN, ["ann", "bob", "cat", "dan"])
    await _declare(stub, "ann", ["Machine  Learning", "crm"], job_title="Data scientist")
    await _declare(stub, "dan", [TOPIC])
    await _declare(stub, "eve", [TOPIC])  # declares, but belongs to no community
    first = await _points(js, "e1", cid, "bob", 30, [TOPIC, "crm"])
    await _points(js, "e2", cid, "ann", 10, [TOPIC])
    await _points(js, "e3", cid, "cat", 15, [TOPIC])
    await _points(js, "e4", cid, "cat", -15, [TOPIC])  # a reversal takes it back
    # The same ledger entry again (another event id, as a replay after a crash) counts once.
    again = new_envelope(
        service="reputation",
        name="points_changed",
        payload=first.payload(reputation_events.PointsChanged),
        subject="bob",
        region="emea",
        programme="sales",
    )
    await JetStreamPublisher(js).publish(again)
    # Events of one member are handled in order, of different members in any order: a marker after
    # each member's last event shows when all of them are in.
    await _points(js, "m-cat", cid, "cat", 1, [MARKER])
    await _points(js, "m-bob", cid, "bob", 1, [MARKER])
    await _until(stub, cid, MARKER, [("bob", False, 1, 1), ("cat", False, 1, 1)])

    # score = points + 50 for declaring the topic; ties by member id; cat (0 points) is left out.
    community_rows = [("ann", True, 10, 60), ("dan", True, 0, 50), ("bob", False, 30, 30)]
    await _until(stub, cid, "  Machine Learning ", community_rows)
    everywhere = [("ann", True, 10, 60), ("dan", True, 0, 50), ("eve", True, 0, 50), ("bob", False, 30, 30)]
    await _until(stub, "", TOPIC, everywhere)
    await _until(stub, cid, "crm", [("ann", True, 0, 50), ("bob", False, 30, 30)])

    listed = await _experts(stub, cid, TOPIC)
    assert (listed.experts[0].display_name, listed.experts[0].job_title) == ("Ann", "Data scientist")

    # Keyset pages over (score desc, member id).
    page1 = await _experts(stub, "", TOPIC, page_size=2)
    page2 = await _experts(stub, "", TOPIC, page_size=2, token=page1.next_page_token)
    assert _rows(page1) + _rows(page2) == everywhere
    assert page1.next_page_token
    assert not page2.next_page_token

    # Dropping a declared topic keeps the points; leaving the community leaves its directory only.
    await _declare(stub, "ann", ["crm"])
    await stub.LeaveCommunity(api.LeaveCommunityRequest(community_id=cid), metadata=auth("dan"))
    await _until(stub, cid, TOPIC, [("bob", False, 30, 30), ("ann", False, 10, 10)])
    await _until(
        stub,
        "",
        TOPIC,
        [("dan", True, 0, 50), ("eve", True, 0, 50), ("bob", False, 30, 30), ("ann", False, 10, 10)],
    )


async def test_hidden_communities_keep_their_experts_to_themselves(stub: Stub, js: JetStreamContext) -> None:
    hidden = await _community(stub, "secret-project", pb.VISIBILITY_HIDDEN, ["ann"])
    open_cid = await _community(stub, "open-floor", pb.VISIBILITY_OPEN, ["ann"])
    await _points(js, "h1", hidden, "ann", 40, ["pricing"])
    await _points(js, "o1", open_cid, "ann", 5, ["pricing"])
    await _until(stub, hidden, "pricing", [("ann", False, 40, 40)])
    await _until(stub, open_cid, "pricing", [("ann", False, 5, 5)])
    # Across communities, points earned in a hidden community are left out.
    await _until(stub, "", "pricing", [("ann", False, 5, 5)])

    with pytest.raises(grpc.aio.AioRpcError) as outsider:
        await _experts(stub, hidden, "pricing", caller="zed")
    assert outsider.value.code() == grpc.StatusCode.NOT_FOUND
    for bad in ("", "   ", "no/slashes"):
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await _experts(stub, open_cid, bad)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # Showing the community again brings its points into the directory across communities.
    await stub.UpdateCommunity(
        api.UpdateCommunityRequest(
            community=pb.Community(id=hidden, visibility=pb.VISIBILITY_OPEN),
            update_mask=FieldMask(paths=["visibility"]),
        ),
        metadata=OWNER,
    )
    await _until(stub, "", "pricing", [("ann", False, 45, 45)])

"""Pilot controls: owners name a control community or people; the goal report shows the pilot beside them,
measured by a real reputation service from community and content events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import nats
import pytest

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild.community.v1 import goal_pb2 as gpb
from guild.events.v1 import community_events_pb2 as events
from guild.events.v1 import content_events_pb2 as content_events
from guild.reputation.v1 import reputation_service_pb2 as rapi
from guild.reputation.v1 import reputation_service_pb2_grpc as rapi_grpc
from guild_common.events.envelope import new_envelope
from guild_common.events.publisher import JetStreamPublisher
from guild_common.events.streams import ensure_stream, stream_config
from guild_community.bootstrap import build
from guild_community.config import CommunitySettings
from guild_community.domain.authorization import ENROL_SCOPE
from guild_reputation import bootstrap as reputation_bootstrap
from guild_reputation.config import ReputationSettings
from guild_testing.fixtures import Infra, auth
from guild_testing.inprocess import running_service
from guild_testing.status import field_violations

from .conftest import EventReader

Stub = api_grpc.CommunityServiceStub
OWNER = auth("olivia", ENROL_SCOPE)


async def _community(stub: Stub, slug: str, visibility: pb.Visibility.ValueType, members: list[str]) -> str:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name=slug,
            slug=slug,
            programme="sales",
            region="amer",
            visibility=visibility,
            lifecycle=pb.LIFECYCLE_PILOT,
        ),
        metadata=OWNER,
    )
    cid = created.community.id
    if members:
        await stub.EnrolCohort(api.EnrolCohortRequest(community_id=cid, member_ids=members), metadata=OWNER)
    return str(cid)


async def test_owners_set_a_control_members_read_it_page_by_page(
    stub: Stub, read_events: EventReader
) -> None:
    pilot = await _community(stub, "pilot", pb.VISIBILITY_OPEN, ["ann"])
    control = await _community(stub, "control", pb.VISIBILITY_OPEN, [])
    set_control: api.SetPilotControlResponse = await stub.SetPilotControl(
        api.SetPilotControlRequest(community_id=pilot, control_community_id=control), metadata=OWNER
    )
    assert set_control.control.control_community_id == control
    assert (set_control.control.version, set_control.control.set_by) == (1, "olivia")

    people = [f"person-{i:04d}" for i in range(250)]
    await stub.SetPilotControl(
        api.SetPilotControlRequest(community_id=pilot, control_member_ids=[*reversed(people), people[0]]),
        metadata=OWNER,
    )
    listed: list[str] = []
    token = ""
    while True:
        got: api.GetPilotControlResponse = await stub.GetPilotControl(
            api.GetPilotControlRequest(community_id=pilot, page_size=100, page_token=token),
            metadata=auth("ann"),
        )
        assert (got.control.control_member_count, got.control.version) == (250, 2)
        assert not got.control.control_community_id
        listed.extend(got.control.control_member_ids)
        token = got.next_page_token
        if not token:
            break
    assert listed == people  # sorted, without the duplicate

    received = await read_events("guild.amer.sales.community.pilot_control_set", 2)
    payloads = [e.payload(events.PilotControlSet) for e in received]
    assert [(p.version, p.control_community_id, len(p.control_member_ids)) for p in payloads] == [
        (1, control, 0),
        (2, "", 250),
    ]
    assert received[0].type == "guild.community.pilot_control_set.v1"

    # Members read it; only owners set it.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SetPilotControl(
            api.SetPilotControlRequest(community_id=pilot, control_community_id=control), metadata=auth("ann")
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Both empty removes the control.
    await stub.SetPilotControl(api.SetPilotControlRequest(community_id=pilot), metadata=OWNER)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetPilotControl(api.GetPilotControlRequest(community_id=pilot), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.memory_too
async def test_bad_controls_are_refused_with_the_field_named(stub: Stub) -> None:
    pilot = await _community(stub, "pilot", pb.VISIBILITY_HIDDEN, ["ann"])
    other = await _community(stub, "other", pb.VISIBILITY_OPEN, [])
    # Hidden from the owner of the pilot (zed owns it, olivia is not a member): as unknown.
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name="secret", slug="secret", programme="sales", region="amer", visibility=pb.VISIBILITY_HIDDEN
        ),
        metadata=auth("zed"),
    )
    secret = created.community.id
    cases = [
        (
            api.SetPilotControlRequest(community_id=pilot, control_community_id="no-such"),
            "control_community_id",
        ),
        (api.SetPilotControlRequest(community_id=pilot, control_community_id=secret), "control_community_id"),
        (api.SetPilotControlRequest(community_id=pilot, control_community_id=pilot), "control_community_id"),
        (
            api.SetPilotControlRequest(
                community_id=pilot, control_member_ids=[f"p{i}" for i in range(10_001)]
            ),
            "control_member_ids",
        ),
        (
            api.SetPilotControlRequest(
                community_id=pilot, control_community_id=other, control_member_ids=["x"]
            ),
            "control_member_ids",
        ),
        (api.SetPilotControlRequest(community_id=pilot, control_member_ids=["ok", ""]), "control_member_ids"),
    ]
    for request, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SetPilotControl(request, metadata=OWNER)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert field in field_violations(caught.value)
    # 10,000 people are accepted.
    many: api.SetPilotControlResponse = await stub.SetPilotControl(
        api.SetPilotControlRequest(community_id=pilot, control_member_ids=[f"p{i}" for i in range(10_000)]),
        metadata=OWNER,
    )
    assert (many.control.control_member_count, len(many.control.control_member_ids)) == (10_000, 100)
    # A hidden pilot does not exist for outsiders.
    for call in (
        stub.SetPilotControl(
            api.SetPilotControlRequest(community_id=pilot, control_community_id=other), metadata=auth("zed")
        ),
        stub.GetPilotControl(api.GetPilotControlRequest(community_id=pilot), metadata=auth("zed")),
        stub.SetPilotControl(
            api.SetPilotControlRequest(community_id="no-such", control_community_id=other), metadata=OWNER
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_goal_report_shows_the_pilot_beside_its_control(
    settings_for: Callable[..., CommunitySettings], unused_tcp_port: int, infra: Infra
) -> None:
    settings = settings_for(CommunitySettings, reputation_addr=f"127.0.0.1:{unused_tcp_port}")
    async with running_service(settings, build) as community:
        reputation_settings = settings_for(
            ReputationSettings, grpc_port=unused_tcp_port, community_addr=community.address
        )
        async with running_service(reputation_settings, reputation_bootstrap.build) as reputation:
            stub = api_grpc.CommunityServiceStub(community.channel)
            # Five members each (olivia owns both): four of the pilot's are active, none of the control's.
            pilot = await _community(stub, "pilot", pb.VISIBILITY_HIDDEN, ["ann", "bob", "cal", "dee"])
            control = await _community(stub, "control", pb.VISIBILITY_OPEN, ["eve", "fay", "gus", "hal"])
            await stub.SetPilotControl(
                api.SetPilotControlRequest(community_id=pilot, control_community_id=control), metadata=OWNER
            )
            nc = await nats.connect(infra.nats_url)
            try:
                await ensure_stream(
                    nc.jetstream(), stream_config("content", max_age_days=7, duplicate_window_seconds=300)
                )
                publisher = JetStreamPublisher(nc.jetstream())
                for i, member in enumerate(["ann", "bob", "cal", "dee"]):
                    comment = content_events.CommentPosted(
                        comment_id=f"m{i}", post_id="p", community_id=pilot, author_id=member
                    )
                    await publisher.publish(
                        new_envelope(
                            service="content",
                            name="comment_posted",
                            payload=comment,
                            subject=f"m{i}",
                            region="amer",
                            programme="sales",
                        )
                    )
            finally:
                await nc.close()

            report: api.GetGoalReportResponse | None = None
            for _ in range(200):
                report = await stub.GetGoalReport(
                    api.GetGoalReportRequest(community_id=pilot), metadata=auth("ann")
                )
                metrics = {m.metric: m for m in report.pilot_comparison.metrics}
                participation = metrics.get(gpb.COMPARISON_METRIC_PARTICIPATION_PCT)
                if (
                    participation is not None
                    and participation.pilot_value == 80
                    and participation.control_sample_size == 5
                ):
                    break
                await asyncio.sleep(0.1)
            assert report is not None
            comparison = report.pilot_comparison
            assert comparison.control_community_id == control
            assert comparison.until.seconds - comparison.since.seconds == 30 * 86400
            participation = {m.metric: m for m in comparison.metrics}[gpb.COMPARISON_METRIC_PARTICIPATION_PCT]
            assert (participation.pilot_value, participation.control_value, participation.difference) == (
                80,
                0,
                80,
            )
            assert (participation.pilot_sample_size, participation.control_sample_size) == (5, 5)
            # Newcombe's interval of 4/5 - 0/5: 19.26 to 96.38 points; 0 is outside it.
            assert participation.has_interval
            assert (round(participation.interval_low, 2), round(participation.interval_high, 2)) == (
                19.26,
                96.38,
            )
            answered = {m.metric: m for m in comparison.metrics}[gpb.COMPARISON_METRIC_QUESTIONS_ANSWERED_PCT]
            assert (answered.pilot_sample_size, answered.has_interval) == (0, False)  # no questions yet

            # Outsiders of the hidden pilot: NOT_FOUND, from community and from reputation alike.
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetGoalReport(api.GetGoalReportRequest(community_id=pilot), metadata=auth("zed"))
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
            reputation_stub = rapi_grpc.ReputationServiceStub(reputation.channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await reputation_stub.ComparePilot(
                    rapi.ComparePilotRequest(community_id=pilot), metadata=auth("zed")
                )
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
            compared = await reputation_stub.ComparePilot(
                rapi.ComparePilotRequest(community_id=pilot), metadata=auth("bob")
            )
            assert compared.comparison.control_community_id == control

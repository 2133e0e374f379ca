"""The integration harness itself: processes up and healthy, RPCs traced to the receiver and logged."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health_pb2
from tests.integration.harness import SuiteProcesses
from tests.integration.otlp import OtlpReceiver

from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.content.v1 import content_service_pb2 as content_api
from guild.content.v1 import content_service_pb2_grpc as content_grpc
from guild.notify.v1 import notify_service_pb2 as notify_api
from guild.notify.v1 import notify_service_pb2_grpc as notify_grpc
from guild.reputation.v1 import reputation_service_pb2 as reputation_api
from guild.reputation.v1 import reputation_service_pb2_grpc as reputation_grpc
from guild_testing.fixtures import auth

Metadata = list[tuple[str, str]]
# One cheap authenticated RPC per service: (full method name, call(channel, community id, metadata)).
Probe = tuple[str, Callable[[grpc.aio.Channel, str, Metadata], Awaitable[object]]]

PROBES: dict[str, Probe] = {
    "content": (
        "/guild.content.v1.ContentService/ListQuestions",
        lambda ch, cid, md: content_grpc.ContentServiceStub(ch).ListQuestions(
            content_api.ListQuestionsRequest(community_id=cid, page_size=5), metadata=md
        ),
    ),
    "reputation": (
        "/guild.reputation.v1.ReputationService/GetLeaderboard",
        lambda ch, cid, md: reputation_grpc.ReputationServiceStub(ch).GetLeaderboard(
            reputation_api.GetLeaderboardRequest(community_id=cid, top=5), metadata=md
        ),
    ),
    "notify": (
        "/guild.notify.v1.NotifyService/ListNotifications",
        lambda ch, cid, md: notify_grpc.NotifyServiceStub(ch).ListNotifications(
            notify_api.ListNotificationsRequest(page_size=5), metadata=md
        ),
    ),
}


def rpc_line(suite: SuiteProcesses, svc: str, method: str, subject: str) -> dict[str, object]:
    lines = [
        line
        for line in suite.log_lines(svc)
        if line.get("event") == "rpc" and line.get("rpc") == method and line.get("principal") == subject
    ]
    assert lines, f"{svc}: no rpc log line for {method} by {subject}; log tail:\n{suite.log_tail(svc)}"
    return lines[-1]


async def test_every_process_is_up_and_serving(suite: SuiteProcesses) -> None:
    for svc in suite.services:
        assert suite.is_running(svc), svc
        assert await suite.health(svc) == health_pb2.HealthCheckResponse.SERVING, svc
        assert any(line.get("event") == "serving" for line in suite.log_lines(svc)), suite.log_tail(svc)


async def test_rpcs_are_traced_to_the_receiver_and_logged_with_trace_ids(
    suite: SuiteProcesses, otlp: OtlpReceiver
) -> None:
    assert "community" in suite.services
    subject = f"harness-{uuid.uuid4().hex[:8]}"
    created = await community_grpc.CommunityServiceStub(suite.channel("community")).CreateCommunity(
        community_api.CreateCommunityRequest(
            name="Harness check",
            slug=f"harness-{uuid.uuid4().hex[:8]}",
            programme="sales",
            region="emea",
        ),
        metadata=auth(subject),
        timeout=10,
    )
    community_id = created.community.id
    called = {"community": "/guild.community.v1.CommunityService/CreateCommunity"}
    for svc in suite.services:
        if svc in PROBES:
            method, call = PROBES[svc]
            code = grpc.StatusCode.OK
            try:
                await call(suite.channel(svc), community_id, auth(subject))
            except grpc.aio.AioRpcError as error:  # a domain error still makes a traced, logged RPC
                code = error.code()
            assert code not in {grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNAUTHENTICATED}, svc
            called[svc] = method

    for svc, method in called.items():
        line = rpc_line(suite, svc, method, subject)
        trace_id = line.get("trace_id")
        assert isinstance(trace_id, str), f"{svc}: rpc log line has no trace_id: {line}"
        assert len(trace_id) == 32
        assert line.get("service") == svc
        spans = await otlp.wait_for_span(service=f"guild-{svc}", trace_id=trace_id, kind="SERVER", timeout=10)
        assert spans[0].name == method
        assert spans[0].attributes.get("enduser.id") == subject

    assert otlp.find(service="guild-community")


async def test_one_service_restarts_cleanly_on_the_same_address(suite: SuiteProcesses) -> None:
    svc = suite.services[-1]
    address = suite.address(svc)
    old_pid = suite.pid(svc)
    await suite.restart(svc)
    assert suite.exit_codes(svc)[-1] == 0
    assert suite.pid(svc) not in {None, old_pid}
    assert suite.address(svc) == address
    assert await suite.health(svc, timeout=5) == health_pb2.HealthCheckResponse.SERVING

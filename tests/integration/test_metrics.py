"""The services export their metrics over OTLP: RPC durations by method and code, events published
and consumed.

The suite exports metrics every 500 ms to a small OTLP metrics receiver of this module (the shared
receiver only counts metrics exports); a short scenario drives RPCs, one of them failing, and events
through content's outbox into the reputation and notify consumers.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.metrics.v1 import metrics_pb2
from tests.integration.harness import SuiteProcesses
from tests.integration.otlp import attributes_dict

from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.content.v1 import content_service_pb2 as content_api
from guild.content.v1 import content_service_pb2_grpc as content_grpc
from guild_testing.fixtures import auth
from guild_testing.processes import free_port


@dataclass(frozen=True)
class Point:
    """One exported data point: its service, metric, attributes and value (a histogram's count)."""

    service: str
    metric: str
    attributes: dict[str, Any]
    value: float


def _points(metric: metrics_pb2.Metric) -> list[tuple[dict[str, Any], float]]:
    kind = metric.WhichOneof("data")
    if kind == "histogram":
        return [(attributes_dict(p.attributes), float(p.count)) for p in metric.histogram.data_points]
    if kind in ("sum", "gauge"):
        data = getattr(metric, kind).data_points
        return [
            (attributes_dict(p.attributes), p.as_double if p.HasField("as_double") else float(p.as_int))
            for p in data
        ]
    return []


class MetricsReceiver(metrics_service_pb2_grpc.MetricsServiceServicer):
    """An OTLP/gRPC metrics endpoint that keeps every data point it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self._lock = threading.Lock()
        self._points: list[Point] = []
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self, self._server)  # type: ignore[no-untyped-call]
        self._server.add_insecure_port(f"127.0.0.1:{self.port}")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def Export(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest, context: grpc.ServicerContext
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        received: list[Point] = []
        for resource_metrics in request.resource_metrics:
            service = str(attributes_dict(resource_metrics.resource.attributes).get("service.name", ""))
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    received.extend(Point(service, metric.name, a, v) for a, v in _points(metric))
        with self._lock:
            self._points.extend(received)
        return metrics_service_pb2.ExportMetricsServiceResponse()

    def find(
        self, metric: str, service: str | None = None, attributes: Mapping[str, Any] | None = None
    ) -> list[Point]:
        with self._lock:
            points = list(self._points)
        return [
            p
            for p in points
            if p.metric == metric
            and (service is None or p.service == service)
            and all(p.attributes.get(k) == v for k, v in (attributes or {}).items())
        ]

    async def wait_for(
        self, metric: str, service: str, attributes: Mapping[str, Any], timeout: float = 20.0
    ) -> list[Point]:
        """Points of ``metric`` with the given attributes whose value is positive."""
        deadline = time.monotonic() + timeout
        while True:
            found = [p for p in self.find(metric, service, attributes) if p.value > 0]
            if found:
                return found
            if time.monotonic() > deadline:
                with self._lock:
                    seen = sorted({(p.service, p.metric) for p in self._points})
                raise AssertionError(f"no {metric} {attributes} from {service} in {timeout}s; seen: {seen}")
            await asyncio.sleep(0.1)

    def __enter__(self) -> MetricsReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(0.5).wait()


@pytest.fixture(scope="module")
def metrics_receiver() -> Iterator[MetricsReceiver]:
    with MetricsReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def suite_env(metrics_receiver: MetricsReceiver) -> Mapping[str, str]:
    # Traces still go to the shared receiver (OTEL_EXPORTER_OTLP_ENDPOINT); metrics come here.
    return {
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": metrics_receiver.endpoint,
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def scenario(suite: SuiteProcesses) -> str:
    community = community_grpc.CommunityServiceStub(suite.channel("community"))
    content = content_grpc.ContentServiceStub(suite.channel("content"))
    created = await community.CreateCommunity(
        community_api.CreateCommunityRequest(
            name="Site reliability", slug="site-reliability", programme="operations", region="apac"
        ),
        metadata=auth("kai"),
    )
    cid = str(created.community.id)
    await community.JoinCommunity(community_api.JoinCommunityRequest(community_id=cid), metadata=auth("lea"))
    question = await content.AskQuestion(
        content_api.AskQuestionRequest(community_id=cid, title="What do we page on?"), metadata=auth("lea")
    )
    await content.AnswerQuestion(
        content_api.AnswerQuestionRequest(question_id=question.question.id, body="User-facing SLOs."),
        metadata=auth("kai"),
    )
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await community.GetCommunity(
            community_api.GetCommunityRequest(community_id="no-such-community"), metadata=auth("kai")
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    return cid


async def test_rpc_durations_by_method_and_code(metrics_receiver: MetricsReceiver, scenario: str) -> None:
    created = await metrics_receiver.wait_for(
        "guild.rpc.server.duration",
        "guild-community",
        {
            "rpc.method": "/guild.community.v1.CommunityService/CreateCommunity",
            "rpc.grpc.status_code": "OK",
        },
    )
    assert created[-1].value >= 1
    await metrics_receiver.wait_for(
        "guild.rpc.server.duration",
        "guild-community",
        {
            "rpc.method": "/guild.community.v1.CommunityService/GetCommunity",
            "rpc.grpc.status_code": "NOT_FOUND",
        },
    )
    await metrics_receiver.wait_for(
        "guild.rpc.server.duration",
        "guild-content",
        {"rpc.method": "/guild.content.v1.ContentService/AskQuestion", "rpc.grpc.status_code": "OK"},
    )


async def test_events_published_and_consumed(metrics_receiver: MetricsReceiver, scenario: str) -> None:
    await metrics_receiver.wait_for(
        "guild.events.published", "guild-content", {"event.type": "guild.content.answer_posted.v1"}
    )
    await metrics_receiver.wait_for(
        "guild.events.published", "guild-community", {"event.type": "guild.community.member_joined.v1"}
    )
    await metrics_receiver.wait_for(
        "guild.events.consumed",
        "guild-reputation",
        {"consumer": "reputation_GUILD_CONTENT", "outcome": "handled"},
    )
    await metrics_receiver.wait_for(
        "guild.events.consumed", "guild-notify", {"consumer": "notify_GUILD_CONTENT", "outcome": "handled"}
    )


async def test_outbox_backlog_is_reported(metrics_receiver: MetricsReceiver, scenario: str) -> None:
    points = metrics_receiver.find("guild.outbox.backlog", "guild-content")
    deadline = time.monotonic() + 20
    while not points and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        points = metrics_receiver.find("guild.outbox.backlog", "guild-content")
    assert points, "guild.outbox.backlog not exported"
    assert all(p.value >= 0 for p in points)


async def test_notifications_sent_by_channel(metrics_receiver: MetricsReceiver, scenario: str) -> None:
    # Kai answered Lea's question: Lea's in-app notification is counted on the in_app channel.
    sent = await metrics_receiver.wait_for(
        "guild.notifications.sent", "guild-notify", {"channel": "in_app", "notification.type": "new_answer"}
    )
    assert sent[-1].value >= 1

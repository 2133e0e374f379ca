"""Health: what dependencies make a service report, streamed to ``Watch``; a down database fails fast."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import nats
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from guild_common.grpc.server import ServiceServer
from guild_common.health import Readiness
from guild_common.infrastructure import Infrastructure
from guild_common.mongo import create_client
from guild_common.settings import ServiceSettings
from guild_testing.fixtures import Infra, auth
from guild_testing.processes import free_port
from guild_testing.workers import IdleWorker, raw_bytes

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _settings() -> ServiceSettings:
    return ServiceSettings(service_name="probe", grpc_host="127.0.0.1", grpc_port=0, shutdown_grace_seconds=1)


def _server(readiness: dict[str, Readiness], register: Any = None) -> ServiceServer:
    async def check() -> Readiness:
        return readiness["now"]

    def no_services(srv: grpc.aio.Server) -> list[str]:
        return ["test.Probe"]

    return ServiceServer(
        _settings(),
        register=register or no_services,
        workers=[IdleWorker()],
        healthy=check,
        health_interval=0.05,
    )


@pytest_asyncio.fixture
async def infra_clients(infra: Infra) -> AsyncIterator[Infrastructure]:
    mongo = create_client(infra.mongo_uri, app_name="health-test")
    nc = await nats.connect(infra.nats_url)
    yield Infrastructure(mongo=mongo, db=mongo["health_test"], nats=nc, js=nc.jetstream())
    if not nc.is_closed:
        await nc.close()
    await mongo.close()


async def _next_status(stream: Any) -> int:
    response = await asyncio.wait_for(stream.read(), timeout=5)
    assert response is not grpc.aio.EOF
    return int(response.status)


async def test_watch_streams_not_serving_while_the_database_is_down_and_from_shutdown() -> None:
    readiness = {"now": Readiness(serving=True)}
    srv = _server(readiness)
    await srv.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}")
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
        statuses = [await _next_status(watch)]
        if statuses[-1] != SERVING:
            statuses.append(await _next_status(watch))
        assert statuses[-1] == SERVING, statuses
        readiness["now"] = Readiness(serving=False)
        assert await _next_status(watch) == NOT_SERVING
        readiness["now"] = Readiness(serving=True)
        assert await _next_status(watch) == SERVING
        service_watch = stub.Watch(health_pb2.HealthCheckRequest(service="test.Probe"))
        assert await _next_status(service_watch) == SERVING
        stopping = asyncio.create_task(srv.stop())
        assert await _next_status(watch) == NOT_SERVING
        assert await _next_status(service_watch) == NOT_SERVING
        await stopping
    finally:
        await channel.close()


async def test_a_degraded_dependency_keeps_the_service_in_rotation() -> None:
    readiness = {"now": Readiness(serving=True, degraded=("nats",))}
    srv = _server(readiness)
    await srv.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}")
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(100):
            if srv.readiness.degraded:
                break
            await asyncio.sleep(0.02)
        assert srv.readiness == Readiness(serving=True, degraded=("nats",))
        assert (await stub.Check(health_pb2.HealthCheckRequest())).status == SERVING
    finally:
        await channel.close()
        await srv.stop()


async def test_nats_down_degrades_and_mongo_down_stops_serving(infra_clients: Infrastructure) -> None:
    assert await infra_clients.readiness() == Readiness(serving=True)
    await infra_clients.nats.close()
    assert await infra_clients.readiness() == Readiness(serving=True, degraded=("nats",))
    dead = create_client(f"mongodb://127.0.0.1:{free_port()}", app_name="health-test")
    try:
        no_db = Infrastructure(mongo=dead, db=dead["x"], nats=infra_clients.nats, js=infra_clients.js)
        started = time.perf_counter()
        assert (await no_db.readiness()).serving is False
        assert time.perf_counter() - started < 3
    finally:
        await dead.close()


def test_the_database_timeout_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUILD_MONGO_TIMEOUT_SECONDS", "0.25")
    assert ServiceSettings().mongo_timeout_seconds == 0.25
    client = create_client("mongodb://127.0.0.1:1", app_name="t", timeout_seconds=0.25)
    assert client.options.server_selection_timeout == 0.25


async def test_calls_fail_fast_as_unavailable_while_the_database_is_down() -> None:
    dead = create_client(f"mongodb://127.0.0.1:{free_port()}", app_name="health-test")

    async def read(request: bytes, context: Any) -> bytes:
        await dead["x"]["y"].find_one({})
        return b""

    def register(srv: grpc.aio.Server) -> list[str]:
        handler = grpc.unary_unary_rpc_method_handler(
            read, request_deserializer=raw_bytes, response_serializer=raw_bytes
        )
        srv.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Probe", {"Read": handler})])
        return ["test.Probe"]

    srv = _server({"now": Readiness(serving=False)}, register)
    await srv.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}")
    try:
        call = channel.unary_unary(
            "/test.Probe/Read", request_serializer=raw_bytes, response_deserializer=raw_bytes
        )
        started = time.perf_counter()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(b"", metadata=auth("ann"), timeout=4)
        elapsed = time.perf_counter() - started
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert elapsed < 2.5, elapsed
    finally:
        await channel.close()
        await srv.stop()
        await dead.close()

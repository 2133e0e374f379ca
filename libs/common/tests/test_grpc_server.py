"""The shared gRPC server: authentication, error mapping, health and shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from guild_common.auth import current_principal
from guild_common.errors import FieldViolation, InvalidArgument
from guild_common.grpc.server import ServiceServer
from guild_common.settings import ServiceSettings
from guild_testing.fixtures import auth
from guild_testing.workers import IdleWorker, raw_bytes


async def whoami(request: bytes, context: Any) -> bytes:
    return current_principal().subject.encode()


async def boom(request: bytes, context: Any) -> bytes:
    raise RuntimeError("secret internals")


async def invalid(request: bytes, context: Any) -> bytes:
    raise InvalidArgument("bad", violations=[FieldViolation("title", "must not be empty")])


async def echo(request: bytes, context: Any) -> bytes:
    """Quotes the whole request back, as a careless validation message would."""
    value = request.decode()
    raise InvalidArgument(
        f"no such thing {value}",
        metadata={"id": value},
        violations=[FieldViolation("id", f"unknown id {value}") for _ in range(50)],
    )


@pytest_asyncio.fixture
async def server() -> AsyncIterator[tuple[ServiceServer, grpc.aio.Channel, dict[str, bool]]]:
    state = {"healthy": True}

    async def healthy() -> bool:
        return state["healthy"]

    def register(srv: grpc.aio.Server) -> list[str]:
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=raw_bytes, response_serializer=raw_bytes
            )
            for name, fn in {"WhoAmI": whoami, "Boom": boom, "Invalid": invalid, "Echo": echo}.items()
        }
        srv.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Probe", handlers)])
        return ["test.Probe"]

    settings = ServiceSettings(
        service_name="probe", grpc_host="127.0.0.1", grpc_port=0, shutdown_grace_seconds=1
    )
    srv = ServiceServer(
        settings, register=register, workers=[IdleWorker()], healthy=healthy, health_interval=0.05
    )
    await srv.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}")
    yield srv, channel, state
    await channel.close()
    await srv.stop()


def _call(channel: grpc.aio.Channel, method: str) -> Any:
    return channel.unary_unary(
        f"/test.Probe/{method}", request_serializer=raw_bytes, response_deserializer=raw_bytes
    )


async def test_principal_is_bound_and_missing_tokens_are_refused(server: Any) -> None:
    _, channel, _ = server
    assert await _call(channel, "WhoAmI")(b"", metadata=auth("ann")) == b"ann"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(channel, "WhoAmI")(b"")
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_two_authorization_headers_are_unauthenticated(server: Any) -> None:
    _, channel, _ = server
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(channel, "WhoAmI")(b"", metadata=[*auth("ann"), *auth("bob")])
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "more than one" in (caught.value.details() or "")


async def test_errors_echo_only_a_short_prefix_of_the_input(server: Any) -> None:
    _, channel, _ = server
    huge = "x" * 7000
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(channel, "Echo")(huge.encode(), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(caught.value.details() or "") <= 256
    status = rpc_status.from_call(caught.value)
    assert status is not None
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info)
    assert status.details[1].Unpack(bad)
    assert len(info.metadata["id"]) <= 64
    assert len(bad.field_violations) == 20
    assert all(len(v.description) <= 192 for v in bad.field_violations)
    assert len(status.SerializeToString()) < 8000


async def test_unexpected_errors_are_internal_with_a_correlation_id_and_no_details(server: Any) -> None:
    _, channel, _ = server
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(channel, "Boom")(b"", metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "correlation id" in (caught.value.details() or "")
    assert "secret internals" not in (caught.value.details() or "")
    assert "Traceback" not in (caught.value.details() or "")


async def test_invalid_argument_carries_field_violations_and_error_info(server: Any) -> None:
    _, channel, _ = server
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(channel, "Invalid")(b"", metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    assert status is not None
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info)
    assert status.details[1].Unpack(bad)
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", "probe.guild")
    assert [(v.field, v.description) for v in bad.field_violations] == [("title", "must not be empty")]


async def test_health_follows_dependencies_and_is_open(server: Any) -> None:
    _, channel, state = server
    stub = health_pb2_grpc.HealthStub(channel)

    async def status() -> int:
        return int((await stub.Check(health_pb2.HealthCheckRequest(service="test.Probe"))).status)

    for _ in range(40):
        if await status() == health_pb2.HealthCheckResponse.SERVING:
            break
        await asyncio.sleep(0.05)
    assert await status() == health_pb2.HealthCheckResponse.SERVING
    state["healthy"] = False
    for _ in range(40):
        if await status() == health_pb2.HealthCheckResponse.NOT_SERVING:
            break
        await asyncio.sleep(0.05)
    assert await status() == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_liveness_reports_the_process_alone(server: Any) -> None:
    _, channel, state = server
    state["healthy"] = False
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service="liveness"))
    assert response.status == health_pb2.HealthCheckResponse.SERVING

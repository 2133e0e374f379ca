"""Server reflection v1 and v1alpha answer with the protos' comments, as grpcurl ``describe`` shows them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
import pytest_asyncio
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

import guild.community.v1.community_service_pb2_grpc  # noqa: F401  (puts the service in the pool)
from guild_common.grpc.server import ServiceServer
from guild_common.health import Readiness
from guild_common.settings import ServiceSettings
from guild_testing.workers import IdleWorker

SERVICE = "guild.community.v1.CommunityService"
# The comment on CreateCommunity in protos/guild/community/v1/community_service.proto.
COMMENT = "Creates a community; the caller becomes its owner. Idempotent by request_id."


@pytest_asyncio.fixture
async def address() -> AsyncIterator[str]:
    async def ready() -> Readiness:
        return Readiness(serving=True)

    settings = ServiceSettings(
        service_name="probe", grpc_host="127.0.0.1", grpc_port=0, shutdown_grace_seconds=1
    )
    srv = ServiceServer(settings, register=lambda _: [SERVICE], workers=[IdleWorker()], healthy=ready)
    await srv.start()
    yield f"127.0.0.1:{srv.port}"
    await srv.stop()


def comments(file: descriptor_pb2.FileDescriptorProto) -> list[str]:
    return [location.leading_comments.strip() for location in file.source_code_info.location]


def ask(
    channel: grpc.Channel, version: str, request: reflection_pb2.ServerReflectionRequest
) -> Iterator[bytes]:
    """One raw reflection request on ``grpc.reflection.<version>``; the file descriptors of the answer."""
    call = channel.stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    (response,) = list(call(iter([request]), timeout=5))
    assert not response.HasField("error_response"), response.error_response
    if response.HasField("list_services_response"):
        yield from (s.name.encode() for s in response.list_services_response.service)
    yield from response.file_descriptor_response.file_descriptor_proto


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_serves_descriptors_with_comments(address: str, version: str) -> None:
    def fetch() -> tuple[list[bytes], list[bytes]]:
        with grpc.insecure_channel(address) as channel:
            listed = list(ask(channel, version, reflection_pb2.ServerReflectionRequest(list_services="")))
            files = list(
                ask(channel, version, reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE))
            )
            return listed, files

    listed, files = await asyncio.to_thread(fetch)
    assert {SERVICE.encode(), b"grpc.reflection.v1.ServerReflection", b"grpc.health.v1.Health"} <= set(listed)
    by_name = {f.name: f for f in map(descriptor_pb2.FileDescriptorProto.FromString, files)}
    service_file = by_name["guild/community/v1/community_service.proto"]
    assert COMMENT in comments(service_file)


async def test_the_grpcio_reflection_client_sees_the_comments(address: str) -> None:
    def fetch() -> tuple[list[str], descriptor_pb2.FileDescriptorProto, descriptor_pb2.FileDescriptorProto]:
        with grpc.insecure_channel(address) as channel:
            database = ProtoReflectionDescriptorDatabase(channel)
            return (
                list(database.get_services()),
                database.FindFileContainingSymbol(SERVICE),
                database.FindFileContainingSymbol("grpc.reflection.v1.ServerReflection"),
            )

    services, file, v1 = await asyncio.to_thread(fetch)
    assert SERVICE in services
    assert COMMENT in comments(file)
    assert v1.package == "grpc.reflection.v1"
    assert [m.name for m in v1.service[0].method] == ["ServerReflectionInfo"]

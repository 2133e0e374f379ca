"""Stand-ins for what a ``ServiceServer`` runs beside its gRPC server, for tests of the server itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc

from guild_common.grpc.server import ServiceServer
from guild_common.settings import ServiceSettings


class IdleWorker:
    """A background worker that does nothing until stopped (the server's workers run until stopped)."""

    def __init__(self) -> None:
        self.stopped = asyncio.Event()

    async def run(self) -> None:
        await self.stopped.wait()

    def stop(self) -> None:
        self.stopped.set()


def raw_bytes(data: bytes) -> bytes:
    """Identity (de)serializer for generic gRPC handlers and calls that carry raw bytes."""
    return data


UnaryHandler = Callable[[bytes, Any], Awaitable[bytes]]
StreamHandler = Callable[[bytes, Any], AsyncIterator[bytes]]


@contextlib.asynccontextmanager
async def probe_server(
    service: str,
    *,
    unary: Mapping[str, UnaryHandler] | None = None,
    streams: Mapping[str, StreamHandler] | None = None,
    **settings: Any,
) -> AsyncIterator[grpc.aio.Channel]:
    """A ``ServiceServer`` (all its interceptors) serving raw-bytes methods of ``service`` on loopback, with
    ``settings`` over the defaults; yields a channel to it."""
    handlers: dict[str, grpc.RpcMethodHandler] = {
        name: grpc.unary_unary_rpc_method_handler(
            fn, request_deserializer=raw_bytes, response_serializer=raw_bytes
        )
        for name, fn in (unary or {}).items()
    }
    handlers.update(
        {
            name: grpc.unary_stream_rpc_method_handler(
                fn, request_deserializer=raw_bytes, response_serializer=raw_bytes
            )
            for name, fn in (streams or {}).items()
        }
    )

    def register(srv: grpc.aio.Server) -> list[str]:
        srv.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service, handlers)])
        return [service]

    async def healthy() -> bool:
        return True

    fields: dict[str, Any] = {
        "service_name": "probe",
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "shutdown_grace_seconds": 1,
        **settings,
    }
    srv = ServiceServer(ServiceSettings(**fields), register=register, workers=[IdleWorker()], healthy=healthy)
    await srv.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}")
    try:
        yield channel
    finally:
        await channel.close()
        await srv.stop()

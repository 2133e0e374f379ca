"""Run one service inside the test's event loop, on a free port, against the session's servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc

from guild_common.service import Builder, ServiceApp
from guild_common.settings import ServiceSettings


@dataclass
class RunningService:
    app: ServiceApp
    channel: grpc.aio.Channel

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.app.server.port}"


@asynccontextmanager
async def running_service(
    settings: ServiceSettings, build: Builder, *, credentials: grpc.ChannelCredentials | None = None
) -> AsyncIterator[RunningService]:
    """The service and a channel to it: TLS with ``credentials`` (for a service serving TLS), else
    plaintext."""
    app = await ServiceApp.create(settings, build)
    await app.start()
    target = f"127.0.0.1:{app.server.port}"
    channel = (
        grpc.aio.insecure_channel(target)
        if credentials is None
        else grpc.aio.secure_channel(target, credentials)
    )
    try:
        yield RunningService(app, channel)
    finally:
        await channel.close()
        await app.stop()

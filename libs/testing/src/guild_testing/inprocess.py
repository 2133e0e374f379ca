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
async def running_service(settings: ServiceSettings, build: Builder) -> AsyncIterator[RunningService]:
    app = await ServiceApp.create(settings, build)
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.server.port}")
    try:
        yield RunningService(app, channel)
    finally:
        await channel.close()
        await app.stop()

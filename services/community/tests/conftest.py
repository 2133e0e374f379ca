"""Fixtures of the community service tests: the service in the test's loop, a stub, an event reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
import pytest_asyncio

from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild_common.events.envelope import Envelope
from guild_community.bootstrap import build
from guild_community.config import CommunitySettings
from guild_testing.fixtures import Infra
from guild_testing.inprocess import RunningService, running_service

EventReader = Callable[[str, int], Awaitable[list[Envelope]]]


@pytest_asyncio.fixture
async def service(settings_for: Callable[..., CommunitySettings]) -> AsyncIterator[RunningService]:
    async with running_service(settings_for(CommunitySettings), build) as running:
        yield running


@pytest.fixture
def stub(service: RunningService) -> api_grpc.CommunityServiceStub:
    return api_grpc.CommunityServiceStub(service.channel)


@pytest.fixture
def read_events(infra: Infra) -> EventReader:
    """Read community events matching a subject filter until ``count`` arrived (5 s deadline)."""

    async def read(subject: str, count: int) -> list[Envelope]:
        nc = await nats.connect(infra.nats_url)
        try:
            sub = await nc.jetstream().pull_subscribe(subject, stream="GUILD_COMMUNITY")
            received: list[Envelope] = []
            deadline = asyncio.get_running_loop().time() + 5
            while len(received) < count and asyncio.get_running_loop().time() < deadline:
                try:
                    for msg in await sub.fetch(100, timeout=0.25):
                        received.append(Envelope.from_message(msg.subject, msg.headers, msg.data))
                        await msg.ack()
                except (nats.errors.TimeoutError, TimeoutError):
                    pass
            return received
        finally:
            await nc.close()

    return read

"""Fixtures of the community service tests: the service in the test's loop, a stub, an event reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats
import pytest
import pytest_asyncio

from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild_common.events.envelope import Envelope
from guild_common.settings import ServiceSettings
from guild_community.bootstrap import build
from guild_community.config import CommunitySettings
from guild_testing.fixtures import Infra, SettingsFactory
from guild_testing.inprocess import RunningService, running_service

from .memory import MemoryCommunityService, memory_service

EventReader = Callable[[str, int], Awaitable[list[Envelope]]]
# Full outbox sweeps an hour apart: past the sweep at start, an event reaches NATS only through the
# document its write names when it wakes the relay, so a write naming the wrong one fails its test.
FULL_SWEEP_SECONDS = 3600.0


@pytest.fixture
def settings_for(settings_for: SettingsFactory) -> SettingsFactory:
    """The shared settings factory; the community service's relay sweeps in full once an hour."""

    def make(settings_class: type[ServiceSettings], **overrides: Any) -> ServiceSettings:
        if issubclass(settings_class, CommunitySettings):
            overrides.setdefault("outbox_full_sweep_seconds", FULL_SWEEP_SECONDS)
        return settings_for(settings_class, **overrides)

    return make


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


@pytest.fixture
def svc() -> MemoryCommunityService:
    """The use cases and handlers on in-memory ports (no server)."""
    return memory_service()

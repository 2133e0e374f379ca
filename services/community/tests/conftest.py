"""Fixtures of the community service tests: the service in the test's loop, a stub, an event reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import nats
import pytest
import pytest_asyncio

from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild_common.clock import utc_now
from guild_common.events.envelope import Envelope
from guild_common.settings import ServiceSettings
from guild_community.bootstrap import SERVICE_NAME, build
from guild_community.config import CommunitySettings
from guild_testing.fixtures import Infra, SettingsFactory
from guild_testing.inprocess import RunningService, running_service
from guild_testing.memory import SteppingClock, serving_in_memory

from .memory import MemoryCommunityService, memory_service, servicer

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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "memory_too: a test through the stub that reads neither the database nor NATS, so it runs on the "
        "in-memory ports as well",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests through ``stub`` run on the service on FerretDB and NATS (marked ``servers``); those marked
    ``memory_too`` run on the servicer composed on in-memory ports as well."""
    if "stub" not in metafunc.fixturenames:
        return
    backends: list[Any] = [pytest.param("mongo", marks=pytest.mark.servers)]
    if metafunc.definition.get_closest_marker("memory_too"):
        backends.append("memory")
    metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """What ``stub`` calls: the service on the shared servers ("mongo") or on in-memory ports ("memory")."""
    return str(request.param)


@pytest.fixture
def stub(request: pytest.FixtureRequest, backend: str) -> api_grpc.CommunityServiceStub:
    running: RunningService | MemoryServer = request.getfixturevalue(
        "memory_server" if backend == "memory" else "service"
    )
    return api_grpc.CommunityServiceStub(running.channel)


@dataclass
class MemoryServer:
    """The community servicer on in-memory ports, served in the test's loop on a free loopback port."""

    service: MemoryCommunityService
    channel: grpc.aio.Channel


@pytest_asyncio.fixture
async def memory_server() -> AsyncIterator[MemoryServer]:
    # Real time, a millisecond apart per reading: requests carry deadlines relative to the wall clock.
    svc = memory_service(SteppingClock(start=utc_now(), step=timedelta(milliseconds=1)))
    settings = CommunitySettings(
        grpc_host="127.0.0.1",
        grpc_port=0,
        grpc_health_port=0,
        rate_limit_per_second=0,
        shutdown_grace_seconds=1.0,
    )

    def register(server: grpc.aio.Server) -> list[str]:
        api_grpc.add_CommunityServiceServicer_to_server(servicer(svc), server)
        return [SERVICE_NAME]

    async with serving_in_memory(settings, register) as channel:
        yield MemoryServer(svc, channel)


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

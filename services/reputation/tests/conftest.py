"""Fixtures of the reputation service tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest_asyncio
from services.reputation.tests.support import Producer

from guild_common.events.streams import ensure_stream, stream_config
from guild_testing.fixtures import Infra


@pytest_asyncio.fixture
async def producer(infra: Infra, clean_streams: None) -> AsyncIterator[Producer]:
    nc = await nats.connect(infra.nats_url)
    for service in ("content", "community"):
        await ensure_stream(
            nc.jetstream(), stream_config(service, max_age_days=7, duplicate_window_seconds=300)
        )
    yield Producer(nc.jetstream())
    await nc.close()

"""Fixtures shared by guild_common's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest_asyncio

from guild_common.events.streams import ensure_stream, stream_config
from guild_testing.fixtures import Infra


@pytest_asyncio.fixture
async def js(infra: Infra, clean_streams: None) -> AsyncIterator[nats.js.JetStreamContext]:
    """JetStream with a fresh ``GUILD_DEMO`` stream (subjects ``guild.*.*.demo.>``)."""
    nc = await nats.connect(infra.nats_url)
    context = nc.jetstream()
    await ensure_stream(context, stream_config("demo", max_age_days=1, duplicate_window_seconds=120))
    yield context
    await nc.close()

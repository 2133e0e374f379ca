"""NATS refuses anonymous connections, and a service's user may not publish another service's events."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.errors import Error as NatsError

from guild_common.events.streams import ensure_stream, stream_config
from guild_common.nats_access import check_reads, inbox_prefix, permissions
from guild_testing.fixtures import Infra


async def test_an_anonymous_connection_is_refused(infra: Infra) -> None:
    with pytest.raises((NatsError, OSError)):
        await nats.connect(infra.nats.url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)


async def test_notify_cannot_publish_a_community_event(infra: Infra, clean_streams: None) -> None:
    admin = await nats.connect(infra.nats_url)
    await ensure_stream(
        admin.jetstream(), stream_config("community", max_age_days=1, duplicate_window_seconds=60)
    )
    errors: list[Exception] = []

    async def on_error(error: Exception) -> None:
        errors.append(error)

    user, password = infra.nats.credentials("notify")
    notify = await nats.connect(
        infra.nats.url, user=user, password=password, inbox_prefix=inbox_prefix(user), error_cb=on_error
    )
    try:
        with pytest.raises((NatsError, TimeoutError)):
            await notify.jetstream().publish(
                "guild.emea.induction.community.member_joined", b"forged", timeout=1
            )
        await asyncio.sleep(0.2)
        assert any("permissions violation" in str(e).lower() for e in errors), errors
        info = await admin.jetstream().stream_info("GUILD_COMMUNITY")
        assert info.state.messages == 0
        # nor may it read the community's events around JetStream
        errors.clear()
        await notify.subscribe("guild.>")
        await notify.flush()
        await asyncio.sleep(0.2)
        assert any("permissions violation" in str(e).lower() for e in errors), errors
    finally:
        await notify.close()
        await admin.close()


def test_a_service_reads_only_its_own_durable_consumers() -> None:
    allowed = permissions("notify")["publish"]["allow"]
    assert "$JS.API.CONSUMER.MSG.NEXT.GUILD_COMMUNITY.notify_GUILD_COMMUNITY" in allowed
    assert not any("content_GUILD_COMMUNITY" in subject for subject in allowed)
    assert not any(subject.startswith("guild.") and ".notify." not in subject for subject in allowed)
    with pytest.raises(ValueError, match="READS"):
        check_reads("content", "notify")

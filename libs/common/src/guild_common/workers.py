"""Workers wired from a service's settings and clients: the outbox relay and event consumers."""

from __future__ import annotations

from collections.abc import Sequence

from guild_common.events.consumer import ConsumerSpec, EventConsumer, EventHandler
from guild_common.events.outbox import OutboxRelay
from guild_common.events.publisher import JetStreamPublisher
from guild_common.events.streams import ensure_stream, stream_config_for
from guild_common.infrastructure import Infrastructure
from guild_common.nats_access import check_reads
from guild_common.settings import ServiceSettings


async def outbox_relay(
    infra: Infrastructure, settings: ServiceSettings, collections: Sequence[str]
) -> OutboxRelay:
    """The relay of this service's outbox collections, after making sure its stream exists."""
    await ensure_stream(infra.js, stream_config_for(settings.service_name, settings))
    return OutboxRelay(
        infra.db,
        collections,
        JetStreamPublisher(infra.js),
        sweep_seconds=settings.outbox_sweep_seconds,
        full_sweep_seconds=settings.outbox_full_sweep_seconds,
    )


async def event_consumer(
    infra: Infrastructure,
    settings: ServiceSettings,
    *,
    source_service: str,
    handlers: dict[str, EventHandler],
) -> EventConsumer:
    """A durable consumer named after this service, on ``source_service``'s stream and this slice.

    Only the producing service creates and configures its stream: until it exists, the consumer waits."""
    check_reads(settings.service_name, source_service)
    if source_service == settings.service_name:
        await ensure_stream(infra.js, stream_config_for(source_service, settings))
    return EventConsumer(
        infra.js,
        infra.db,
        ConsumerSpec(
            name=settings.service_name,
            source_service=source_service,
            handlers=handlers,
            region=settings.region_filter,
            programme=settings.programme_filter,
            concurrency=settings.consumer_concurrency,
        ),
        batch_size=settings.consumer_batch_size,
        max_deliver=settings.consumer_max_deliver,
        backoff_seconds=settings.consumer_backoff_seconds,
    )

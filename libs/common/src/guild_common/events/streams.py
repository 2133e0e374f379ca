"""One JetStream stream per producing service, file storage, replayable for days."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from guild_common.settings import ServiceSettings


def stream_name(service: str) -> str:
    return f"GUILD_{service.upper()}"


def stream_config(
    service: str, *, max_age_days: float, duplicate_window_seconds: float, replicas: int = 1
) -> StreamConfig:
    return StreamConfig(
        name=stream_name(service),
        description=(
            f"Guild {service} domain events: CloudEvents in binary mode, subjects "
            f"guild.<region>.<programme>.{service}.<event> (docs/events.md)"
        ),
        subjects=[f"guild.*.*.{service}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=max_age_days * 86400,
        duplicate_window=duplicate_window_seconds,
        num_replicas=replicas,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to ``config``."""
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


def stream_config_for(service: str, settings: ServiceSettings) -> StreamConfig:
    """The stream of ``service`` with this deployment's retention and dedupe window."""
    return stream_config(
        service,
        max_age_days=settings.stream_max_age_days,
        duplicate_window_seconds=settings.stream_duplicate_window_seconds,
        replicas=settings.stream_replicas,
    )

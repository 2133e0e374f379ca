"""What a service's dependency checks found: whether it can serve, and what it is working around."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Readiness:
    """``serving``: the service can do its work (its database answers). ``degraded``: dependencies that are
    down but worked around, e.g. ``("nats",)`` while the outbox holds events NATS cannot take yet. A
    degraded service stays in rotation; it is reported in logs and the ``guild.health.degraded`` metric."""

    serving: bool
    degraded: tuple[str, ...] = ()

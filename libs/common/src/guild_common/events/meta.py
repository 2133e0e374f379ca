"""What every received event carries besides its payload, as plain data for handlers in ``app/``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class EventMeta:
    """The CloudEvents attributes of a received event that handlers act on.

    ``id`` is the idempotency key (the same for every redelivery); ``time`` is when the producer wrote
    it; ``region`` and ``programme`` come from the NATS subject the event travelled on."""

    id: str
    type: str
    source: str
    subject: str
    time: datetime
    region: str = ""
    programme: str = ""

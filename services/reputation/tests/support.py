"""Helpers of the reputation service tests."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import nats
from google.protobuf.message import Message

from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.publisher import JetStreamPublisher

C1 = "c-1"
C2 = "c-2"


class Producer:
    """Publishes events the way the producing services' relays do."""

    def __init__(self, js: nats.js.JetStreamContext) -> None:
        self.publisher = JetStreamPublisher(js)
        self.js = js

    async def emit(
        self, name: str, payload: Message, *, service: str = "content", age: timedelta | None = None
    ) -> Envelope:
        envelope = new_envelope(
            service=service, name=name, payload=payload, subject="s", region="emea", programme="sales"
        )
        if age is not None:
            envelope = dataclasses.replace(envelope, time=envelope.time - age)
        await self.publisher.publish(envelope)
        return envelope

    async def redeliver(self, envelope: Envelope) -> None:
        await self.js.publish(
            envelope.topic, envelope.data, headers={**envelope.headers(), "Nats-Msg-Id": "x" + envelope.id}
        )

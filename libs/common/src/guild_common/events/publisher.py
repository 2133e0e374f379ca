"""Publishes envelopes to JetStream with ``Nats-Msg-Id`` dedupe and a producer span."""

from __future__ import annotations

from nats.js import JetStreamContext
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from guild_common.events.envelope import Envelope

_tracer = trace.get_tracer("guild.events")


def stored_trace_context(envelope: Envelope) -> otel_context.Context:
    carrier = {"traceparent": envelope.traceparent}
    if envelope.tracestate:
        carrier["tracestate"] = envelope.tracestate
    return propagate.extract(carrier)


class JetStreamPublisher:
    """Publishes one envelope and waits for the stream's acknowledgement."""

    def __init__(self, js: JetStreamContext, *, timeout: float = 5.0) -> None:
        self._js = js
        self._timeout = timeout

    async def publish(self, envelope: Envelope) -> None:
        parent = stored_trace_context(envelope) if envelope.traceparent else None
        with _tracer.start_as_current_span(
            f"{envelope.topic} publish",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "publish",
                "messaging.destination.name": envelope.topic,
                "messaging.message.id": envelope.id,
                "cloudevents.event_type": envelope.type,
            },
        ):
            headers = envelope.headers()
            propagate.inject(headers)
            ack = await self._js.publish(
                envelope.topic, envelope.data, timeout=self._timeout, headers=headers
            )
            trace.get_current_span().set_attribute("messaging.nats.duplicate", bool(ack.duplicate))

"""Events written inside a traced request carry its trace context."""

from __future__ import annotations

from google.protobuf import wrappers_pb2
from opentelemetry.sdk.trace import TracerProvider

from guild_common.events.outbox import traced_envelope


def test_an_event_written_in_a_span_carries_its_traceparent() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("write") as span:
        envelope = traced_envelope(
            service="demo",
            name="said",
            payload=wrappers_pb2.StringValue(value="hi"),
            subject="s1",
            region="emea",
            programme="sales",
        )
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert envelope.traceparent.split("-")[1] == trace_id
    assert envelope.type == "guild.demo.said.v1"
    assert envelope.topic == "guild.emea.sales.demo.said"


def test_an_event_written_outside_a_span_has_no_traceparent() -> None:
    envelope = traced_envelope(
        service="demo",
        name="said",
        payload=wrappers_pb2.StringValue(value="hi"),
        subject="s1",
        region="emea",
        programme="sales",
    )
    assert envelope.traceparent == ""

"""Domain events of the community service as CloudEvents envelopes with protobuf payloads."""

from __future__ import annotations

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from guild.events.v1 import community_events_pb2 as pb
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.outbox import current_trace_headers
from guild_community.domain.model import CommunityCreated, DomainEvent, MemberJoined

SERVICE = "community"


def _timestamp(value: object) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)  # type: ignore[arg-type]
    return ts


def to_envelope(event: DomainEvent) -> Envelope:
    trace_headers = current_trace_headers()
    payload: Message
    if isinstance(event, CommunityCreated):
        c = event.community
        payload = pb.CommunityCreated(
            community_id=c.id,
            slug=c.slug,
            name=c.name,
            programme=c.programme,
            region=c.region,
            visibility=c.visibility.value,
            lifecycle=c.lifecycle.value,
            created_by=c.created_by,
            create_time=_timestamp(c.create_time),
        )
        name, subject, region, programme = "community_created", c.id, c.region, c.programme
    elif isinstance(event, MemberJoined):
        m = event.membership
        payload = pb.MemberJoined(
            community_id=m.community_id,
            member_id=m.member_id,
            role=m.role.value,
            programme=event.programme,
            region=event.region,
            join_time=_timestamp(m.join_time),
        )
        name, subject, region, programme = "member_joined", m.key, event.region, event.programme
    else:  # pragma: no cover - exhaustive over DomainEvent
        raise TypeError(f"unknown event {event!r}")
    return new_envelope(
        service=SERVICE,
        name=name,
        payload=payload,
        subject=subject,
        region=region,
        programme=programme,
        traceparent=trace_headers.get("traceparent", ""),
        tracestate=trace_headers.get("tracestate", ""),
    )

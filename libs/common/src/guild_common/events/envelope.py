"""The CloudEvents binary-mode envelope carried in NATS headers."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf.message import Message

from guild_common.clock import utc_now
from guild_common.ids import new_id

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/protobuf"

M = TypeVar("M", bound=Message)

# Region and programme of events about a person rather than a community (profiles, follows).
GLOBAL = "global"


@dataclass(frozen=True)
class Envelope:
    """One event: its CloudEvents attributes, the NATS subject it travels on and its protobuf data."""

    id: str
    type: str
    source: str
    subject: str
    time: datetime
    dataschema: str
    data: bytes
    topic: str
    traceparent: str = ""
    tracestate: str = ""

    def headers(self) -> dict[str, str]:
        headers = {
            "ce-specversion": SPEC_VERSION,
            "ce-id": self.id,
            "ce-type": self.type,
            "ce-source": self.source,
            "ce-subject": self.subject,
            "ce-time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "ce-dataschema": self.dataschema,
            "content-type": CONTENT_TYPE,
            "Nats-Msg-Id": self.id,
        }
        if self.traceparent:
            headers["traceparent"] = self.traceparent
        if self.tracestate:
            headers["tracestate"] = self.tracestate
        return headers

    @classmethod
    def from_message(cls, topic: str, headers: dict[str, str] | None, data: bytes) -> Envelope:
        """Parse a received NATS message; raises ``ValueError`` if required attributes are missing."""
        h = headers or {}
        missing = [k for k in ("ce-id", "ce-type", "ce-source", "ce-time") if not h.get(k)]
        if missing:
            raise ValueError(f"not a CloudEvent: missing {', '.join(missing)}")
        return cls(
            id=h["ce-id"],
            type=h["ce-type"],
            source=h["ce-source"],
            subject=h.get("ce-subject", ""),
            time=datetime.fromisoformat(h["ce-time"].replace("Z", "+00:00")),
            dataschema=h.get("ce-dataschema", ""),
            data=data,
            topic=topic,
            traceparent=h.get("traceparent", ""),
            tracestate=h.get("tracestate", ""),
        )

    def payload(self, message_type: builtins.type[M]) -> M:
        message = message_type()
        message.ParseFromString(self.data)
        return message

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time,
            "dataschema": self.dataschema,
            "data": self.data,
            "topic": self.topic,
            "traceparent": self.traceparent,
            "tracestate": self.tracestate,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Envelope:
        return cls(
            id=doc["id"],
            type=doc["type"],
            source=doc["source"],
            subject=doc.get("subject", ""),
            time=doc["time"],
            dataschema=doc.get("dataschema", ""),
            data=bytes(doc["data"]),
            topic=doc["topic"],
            traceparent=doc.get("traceparent", ""),
            tracestate=doc.get("tracestate", ""),
        )


def event_type(service: str, name: str, version: int = 1) -> str:
    """``guild.<svc>.<name>.v<version>``."""
    return f"guild.{service}.{name}.v{version}"


def topic_for(service: str, name: str, *, region: str, programme: str) -> str:
    """``guild.<region>.<programme>.<svc>.<name>``: region and programme first, to slice by deployment."""
    return f"guild.{region}.{programme}.{service}.{name}"


def new_envelope(
    *,
    service: str,
    name: str,
    payload: Message,
    subject: str,
    region: str,
    programme: str,
    traceparent: str = "",
    tracestate: str = "",
    version: int = 1,
) -> Envelope:
    return Envelope(
        id=new_id(),
        type=event_type(service, name, version),
        source=f"/guild/{service}",
        subject=subject,
        time=utc_now(),
        dataschema=payload.DESCRIPTOR.full_name,
        data=payload.SerializeToString(),
        topic=topic_for(service, name, region=region, programme=programme),
        traceparent=traceparent,
        tracestate=tracestate,
    )

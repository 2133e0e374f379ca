"""The CloudEvents envelope, carried in NATS headers as the CloudEvents NATS protocol binding's binary mode.

Every attribute travels as a ``ce-<name>`` header whose value is percent-encoded as the binding requires
(space, double quote, percent and every character outside printable US-ASCII, as the bytes of its UTF-8
encoding), so any UTF-8 value round-trips: a subject ``zoë`` travels as ``zo%C3%AB``. ``datacontenttype``
is ``ce-datacontenttype`` (and ``content-type`` too, for readers that look there); ``dataschema`` is an
absolute URI naming the protobuf message; ``region`` and ``programme`` are extension attributes. Events
written before this form (raw UTF-8 values, no ``ce-datacontenttype``, ``ce-dataschema`` a bare message
name) are still read.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf.message import Message

from guild_common.clock import utc_now
from guild_common.ids import new_id

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/protobuf"
# ``dataschema`` is this prefix and the full name of the payload's protobuf message.
SCHEMA_URI_PREFIX = "urn:guild:proto:"
_CE = "ce-"
_QUOTED_PAIR = re.compile(r"\\(.)")

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

    @property
    def region(self) -> str:
        """The region of ``guild.<region>.<programme>.<svc>.<event>``."""
        return _topic_part(self.topic, 1)

    @property
    def programme(self) -> str:
        """The programme of ``guild.<region>.<programme>.<svc>.<event>``."""
        return _topic_part(self.topic, 2)

    def attributes(self) -> dict[str, str]:
        """The CloudEvents context attributes (with the ``region`` and ``programme`` extensions), as their
        canonical strings."""
        attributes = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "datacontenttype": CONTENT_TYPE,
            "dataschema": schema_uri(self.dataschema),
        }
        if self.subject:
            attributes["subject"] = self.subject
        if self.region:
            attributes["region"] = self.region
        if self.programme:
            attributes["programme"] = self.programme
        return attributes

    def headers(self) -> dict[str, str]:
        """NATS headers: binary content mode of the CloudEvents NATS binding, plus dedupe and tracing."""
        headers = {_CE + name: encode_header_value(value) for name, value in self.attributes().items()}
        headers["content-type"] = CONTENT_TYPE
        headers["Nats-Msg-Id"] = self.id
        if self.traceparent:
            headers["traceparent"] = self.traceparent
        if self.tracestate:
            headers["tracestate"] = self.tracestate
        return headers

    @classmethod
    def from_message(cls, topic: str, headers: dict[str, str] | None, data: bytes) -> Envelope:
        """Parse a received NATS message; raises ``ValueError`` if required attributes are missing or a
        value is not valid percent-encoded UTF-8."""
        h = {name.lower(): value for name, value in (headers or {}).items()}
        # Events published before the binding was followed exactly carry raw values and no
        # ce-datacontenttype; they are read as they are.
        encoded = _CE + "datacontenttype" in h

        def attribute(name: str) -> str:
            value = h.get(_CE + name, "")
            return decode_header_value(value) if encoded else value

        missing = [_CE + k for k in ("id", "type", "source", "time") if not attribute(k)]
        if missing:
            raise ValueError(f"not a CloudEvent: missing {', '.join(missing)}")
        return cls(
            id=attribute("id"),
            type=attribute("type"),
            source=attribute("source"),
            subject=attribute("subject"),
            time=datetime.fromisoformat(attribute("time").replace("Z", "+00:00")),
            dataschema=message_name(attribute("dataschema")),
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


def _topic_part(topic: str, index: int) -> str:
    parts = topic.split(".")
    return parts[index] if len(parts) == 5 and parts[0] == "guild" else ""


def schema_uri(message_name: str) -> str:
    """``dataschema``: an absolute URI naming the payload's protobuf message (``guild.events.v1.X``)."""
    if not message_name or ":" in message_name:
        return message_name
    return SCHEMA_URI_PREFIX + message_name


def message_name(dataschema: str) -> str:
    """The protobuf message's full name from ``dataschema`` (a schema URI, or an older bare name)."""
    return dataschema.removeprefix(SCHEMA_URI_PREFIX)


def encode_header_value(value: str) -> str:
    """Percent-encode an attribute value for a NATS header, as the CloudEvents NATS binding says: space,
    double quote, percent and every character outside U+0021..U+007E become the ``%XY`` of its UTF-8
    bytes (upper-case hex); everything else is kept."""
    out: list[str] = []
    for char in value:
        if "!" <= char <= "~" and char not in '"%':
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def decode_header_value(value: str) -> str:
    """Decode a header value: unquote a double-quoted string (RFC 7230 section 3.2.6), then one round of
    percent-decoding (either case; unnecessary encoding accepted). Invalid UTF-8 raises ``ValueError``."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
    raw = bytearray()
    index = 0
    while index < len(value):
        char = value[index]
        if char == "%" and re.fullmatch(r"[0-9A-Fa-f]{2}", value[index + 1 : index + 3]):
            raw.append(int(value[index + 1 : index + 3], 16))
            index += 3
        else:
            raw.extend(char.encode("utf-8"))
            index += 1
    return raw.decode("utf-8")


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

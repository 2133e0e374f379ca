"""Events follow the CloudEvents NATS protocol binding (binary mode) exactly; the official SDK agrees.

The official Python SDK (``cloudevents`` on PyPI) has no NATS binding; its HTTP binding uses the same
``ce-`` headers and percent-encoding, and differs only in carrying ``datacontenttype`` as ``content-type``,
which Guild's messages also set. So the SDK parses what travelled through a real NATS server, and what the
SDK writes (with ``datacontenttype`` moved to ``ce-datacontenttype`` as the NATS binding says) parses here.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import urlparse

import nats
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from google.protobuf import wrappers_pb2
from nats.aio.msg import Msg

from guild_common.events.envelope import (
    Envelope,
    decode_header_value,
    encode_header_value,
    new_envelope,
)
from guild_common.events.publisher import JetStreamPublisher

SUBJECTS = ["zoë", "Ann Smith", '50% "quoted"', "名前", "Euro € 😀", "a+b/c?d=e&f#g"]


def _event(subject: str) -> Envelope:
    return new_envelope(
        service="demo",
        name="said",
        payload=wrappers_pb2.StringValue(value=subject),
        subject=subject,
        region="emea",
        programme="healthcare_cpd",
    )


async def _fetch(js: nats.js.JetStreamContext, count: int) -> list[Msg]:
    sub = await js.pull_subscribe("guild.*.*.demo.>", stream="GUILD_DEMO")
    received: list[Msg] = []
    for _ in range(20):
        if len(received) >= count:
            break
        try:
            received.extend(await sub.fetch(count - len(received), timeout=0.5))
        except TimeoutError:
            await asyncio.sleep(0)
    await sub.unsubscribe()
    return received


def test_values_are_percent_encoded_as_the_binding_says() -> None:
    assert encode_header_value("Euro € 😀") == "Euro%20%E2%82%AC%20%F0%9F%98%80"
    assert encode_header_value("zoë") == "zo%C3%AB"
    assert encode_header_value('a "b" 100%') == "a%20%22b%22%20100%25"
    assert encode_header_value("/guild/content:2026-01-01T00:00:00Z") == "/guild/content:2026-01-01T00:00:00Z"
    assert encode_header_value("tab\there\x7f") == "tab%09here%7F"
    assert decode_header_value("zo%c3%ab") == "zoë"
    assert decode_header_value("%41%42C") == "ABC"  # unnecessary encoding is accepted
    assert decode_header_value('"quoted \\"value\\""') == 'quoted "value"'
    with pytest.raises(ValueError, match="utf-8"):
        decode_header_value("%C0%A0")  # overlong encoding of a space


def test_headers_are_the_binary_mode_attributes() -> None:
    event = _event("zoë")
    headers = event.headers()
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-subject"] == "zo%C3%AB"
    assert headers["ce-datacontenttype"] == "application/protobuf"
    assert headers["ce-dataschema"] == "urn:guild:proto:google.protobuf.StringValue"
    assert urlparse(headers["ce-dataschema"]).scheme == "urn"
    assert (headers["ce-region"], headers["ce-programme"]) == ("emea", "healthcare_cpd")
    assert headers["Nats-Msg-Id"] == event.id
    assert all(value.isascii() and " " not in value for value in headers.values())


def test_events_written_before_the_binding_was_followed_are_still_read() -> None:
    old = {
        "ce-specversion": "1.0",
        "ce-id": "e1",
        "ce-type": "guild.demo.said.v1",
        "ce-source": "/guild/demo",
        "ce-subject": "zoë 100%",
        "ce-time": "2026-01-02T03:04:05.000006Z",
        "ce-dataschema": "google.protobuf.StringValue",
        "content-type": "application/protobuf",
        "Nats-Msg-Id": "e1",
    }
    envelope = Envelope.from_message("guild.emea.sales.demo.said", old, b"")
    assert envelope.subject == "zoë 100%"
    assert envelope.dataschema == "google.protobuf.StringValue"
    assert envelope.time == datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


async def test_non_ascii_subjects_round_trip_through_nats_and_the_sdk_parses_them(
    js: nats.js.JetStreamContext,
) -> None:
    sent = [_event(subject) for subject in SUBJECTS]
    publisher = JetStreamPublisher(js)
    for event in sent:
        await publisher.publish(event)
    received = await _fetch(js, len(sent))
    assert len(received) == len(sent)
    for event, msg in zip(sent, received, strict=True):
        ours = Envelope.from_message(msg.subject, msg.headers, msg.data)
        assert (ours.id, ours.subject, ours.dataschema, ours.data) == (
            event.id,
            event.subject,
            "google.protobuf.StringValue",
            event.data,
        )
        parsed = from_binary(HTTPMessage(headers=dict(msg.headers or {}), body=msg.data), JSONFormat())
        assert parsed.get_id() == event.id
        assert parsed.get_type() == "guild.demo.said.v1"
        assert parsed.get_source() == "/guild/demo"
        assert parsed.get_subject() == event.subject
        assert parsed.get_time() == event.time
        assert parsed.get_datacontenttype() == "application/protobuf"
        assert parsed.get_dataschema() == "urn:guild:proto:google.protobuf.StringValue"
        assert parsed.get_extension("region") == "emea"
        assert parsed.get_extension("programme") == "healthcare_cpd"
        data = parsed.get_data()
        assert isinstance(data, bytes | str)
        assert wrappers_pb2.StringValue.FromString(
            data if isinstance(data, bytes) else data.encode()
        ).value == (event.subject)


async def test_what_the_sdk_writes_is_read_here(js: nats.js.JetStreamContext) -> None:
    event = CloudEvent(
        {
            "id": "sdk-1",
            "type": "guild.demo.said.v1",
            "source": "/guild/demo",
            "subject": "Zoë «Ω» 100%",
            "time": datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC),
            "datacontenttype": "application/protobuf",
            "dataschema": "urn:guild:proto:google.protobuf.StringValue",
            "region": "emea",
            "programme": "sales",
        },
        wrappers_pb2.StringValue(value="hi").SerializeToString(),
    )
    message = to_binary(event, JSONFormat())
    headers = dict(message.headers)
    headers["ce-datacontenttype"] = headers.pop("content-type")
    await js.publish("guild.emea.sales.demo.said", message.body, headers=headers)
    (msg,) = await _fetch(js, 1)
    ours = Envelope.from_message(msg.subject, msg.headers, msg.data)
    assert ours.subject == "Zoë «Ω» 100%"
    assert ours.time == datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert ours.dataschema == "google.protobuf.StringValue"
    assert (ours.region, ours.programme) == ("emea", "sales")
    assert ours.payload(wrappers_pb2.StringValue).value == "hi"

"""Generate the events catalog (docs/events.md) and the AsyncAPI document (docs/asyncapi.yaml).

Sources of truth:

- the event payloads: the generated descriptors of ``guild.events.v1`` (field names, numbers, types),
  with the leading comments read from ``protos/guild/events/v1/*.proto``; each message's comment
  starts with ``type guild.<svc>.<name>.v<n>``, optionally followed by ``: <description>``;
- the producer: the ``<svc>`` of the type (each service publishes only its own events, on its stream);
- the consumers: the handler tables in ``services/<svc>/src`` (dict keys that are event type strings);
- whether the producer publishes the event yet: its source names the event (``"<name>"``).

``--check`` regenerates in memory and fails if the committed documents differ.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor

ROOT = Path(__file__).resolve().parent.parent.parent
PROTO_DIR = ROOT / "protos" / "guild" / "events" / "v1"
SERVICES_DIR = ROOT / "services"
DOCS = ROOT / "docs"
EVENTS_MD = DOCS / "events.md"
TYPE_MODULE = ROOT / "libs" / "common" / "src" / "guild_common" / "events" / "catalog.py"
ASYNCAPI_YAML = DOCS / "asyncapi.yaml"
PYTHON_PACKAGE = "guild.events.v1"

# "type guild.<svc>.<name>.v<n>", then optionally ":" or "." and a description.
TYPE_PATTERN = re.compile(
    r"^type (guild\.([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.v(\d+))(?:[:.]?\s+(.*)|[:.]?)$"
)
HANDLER_KEY = re.compile(r"""["'](guild\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v\d+)["']\s*:""")
MESSAGE_LINE = re.compile(r"^message\s+(\w+)\s*\{")
FIELD_LINE = re.compile(r"^(?:repeated\s+|optional\s+)?[\w.]+\s+(\w+)\s*=\s*\d+")

_SCALARS = {
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SINT64: "sint64",
}
# JSON Schema of the proto3 JSON mapping, for the AsyncAPI payload description.
_JSON_TYPES = {
    "double": {"type": "number"},
    "float": {"type": "number"},
    "int32": {"type": "integer"},
    "uint32": {"type": "integer"},
    "sint32": {"type": "integer"},
    "fixed32": {"type": "integer"},
    "sfixed32": {"type": "integer"},
    "int64": {"type": "string", "format": "int64"},
    "uint64": {"type": "string", "format": "uint64"},
    "sint64": {"type": "string", "format": "int64"},
    "fixed64": {"type": "string", "format": "uint64"},
    "sfixed64": {"type": "string", "format": "int64"},
    "bool": {"type": "boolean"},
    "string": {"type": "string"},
    "bytes": {"type": "string", "contentEncoding": "base64"},
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
}


class CatalogError(Exception):
    """The protos or the code do not describe the events consistently."""


@dataclass(frozen=True)
class EventField:
    name: str
    number: int
    type: str
    comment: str


@dataclass(frozen=True)
class Event:
    type: str
    producer: str
    name: str
    version: int
    message: str
    proto_file: str
    python_module: str
    description: str
    fields: tuple[EventField, ...]
    consumers: tuple[str, ...] = ()
    published: bool = False

    @property
    def stream(self) -> str:
        return f"GUILD_{self.producer.upper()}"

    @property
    def subject(self) -> str:
        return f"guild.<region>.<programme>.{self.producer}.{self.name}"

    @property
    def message_name(self) -> str:
        return self.message.rsplit(".", 1)[-1]


@dataclass
class _Comments:
    messages: dict[str, str] = field(default_factory=dict)
    fields: dict[tuple[str, str], str] = field(default_factory=dict)


def read_comments(proto: Path) -> _Comments:
    """Leading ``//`` comments of top-level messages and their fields (no nested messages in events)."""
    comments = _Comments()
    pending: list[str] = []
    current: str | None = None
    for raw in proto.read_text().splitlines():
        line = raw.strip()
        if line.startswith("//"):
            pending.append(line[2:].strip())
            continue
        if not line:
            pending = []
            continue
        message = MESSAGE_LINE.match(line)
        if message and current is None:
            current = message.group(1)
            comments.messages[current] = " ".join(pending)
        elif line.startswith("}"):
            current = None
        elif current is not None:
            field_match = FIELD_LINE.match(line)
            if field_match:
                comments.fields[(current, field_match.group(1))] = " ".join(pending)
        pending = []
    return comments


def _field_type(fd: FieldDescriptor) -> str:
    if fd.message_type is not None:
        base = fd.message_type.full_name
    elif fd.enum_type is not None:
        base = fd.enum_type.full_name
    else:
        base = _SCALARS[fd.type]
    return f"repeated {base}" if fd.is_repeated else base


def _event_from(descriptor: Descriptor, module: str, comments: _Comments, proto_rel: str) -> Event:
    comment = comments.messages.get(descriptor.name, "")
    match = TYPE_PATTERN.match(comment)
    if match is None:
        raise CatalogError(
            f"{proto_rel}: message {descriptor.name} needs a leading comment "
            f"'// type guild.<svc>.<name>.v<n>[: description]', found {comment!r}"
        )
    event_type, producer, name, version, description = match.groups()
    expected_file = f"{producer}_events.proto"
    if not proto_rel.endswith(expected_file):
        raise CatalogError(f"{proto_rel}: {event_type} belongs in {expected_file}")
    fields = tuple(
        EventField(
            name=fd.name,
            number=fd.number,
            type=_field_type(fd),
            comment=comments.fields.get((descriptor.name, fd.name), ""),
        )
        for fd in descriptor.fields
    )
    return Event(
        type=event_type,
        producer=producer,
        name=name,
        version=int(version),
        message=descriptor.full_name,
        proto_file=proto_rel,
        python_module=module,
        description=(description or "").strip(),
        fields=fields,
    )


def handler_tables(services_dir: Path = SERVICES_DIR) -> dict[str, set[str]]:
    """Event type -> the services whose handler tables name it."""
    consumers: dict[str, set[str]] = {}
    for service_dir in sorted(p for p in services_dir.iterdir() if (p / "src").is_dir()):
        for source in sorted((service_dir / "src").rglob("*.py")):
            for event_type in HANDLER_KEY.findall(source.read_text()):
                consumers.setdefault(event_type, set()).add(service_dir.name)
    return consumers


def published_names(producer: str, services_dir: Path = SERVICES_DIR) -> set[str]:
    """Event names the producer's source mentions as a string literal (what it passes to new_envelope)."""
    src = services_dir / producer / "src"
    names: set[str] = set()
    if not src.is_dir():
        return names
    for source in src.rglob("*.py"):
        names.update(re.findall(r"""["']([a-z][a-z0-9_]*)["']""", source.read_text()))
    return names


def load_events(proto_dir: Path = PROTO_DIR, services_dir: Path = SERVICES_DIR) -> list[Event]:
    """Every event declared in the protos, with its consumers from the services' handler tables."""
    consumers = handler_tables(services_dir)
    events: list[Event] = []
    for proto in sorted(proto_dir.glob("*.proto")):
        module_name = f"{PYTHON_PACKAGE}.{proto.stem}_pb2"
        module = importlib.import_module(module_name)
        file_descriptor: FileDescriptor = module.DESCRIPTOR
        comments = read_comments(proto)
        # protos/guild/events/v1/<file>: relative to the repository root, four levels up.
        proto_rel = proto.relative_to(proto_dir.parents[3]).as_posix()
        for descriptor in file_descriptor.message_types_by_name.values():
            event = _event_from(descriptor, module_name, comments, proto_rel)
            event = Event(
                **{
                    **event.__dict__,
                    "consumers": tuple(sorted(consumers.get(event.type, set()))),
                    "published": event.name in published_names(event.producer, services_dir),
                }
            )
            events.append(event)
    known = {e.type for e in events}
    unknown = sorted(set(consumers) - known)
    if unknown:
        raise CatalogError(f"handlers for event types no proto declares: {', '.join(unknown)}")
    duplicates = sorted({e.type for e in events if sum(1 for o in events if o.type == e.type) > 1})
    if duplicates:
        raise CatalogError(f"event types declared twice: {', '.join(duplicates)}")
    return sorted(events, key=lambda e: (e.producer, e.name, e.version))


# -- docs/events.md ----------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _durable(consumer: str, event: Event) -> str:
    return f"`{consumer}_{event.stream}`"


def render_markdown(events: Sequence[Event]) -> str:
    out: list[str] = [
        "# Events catalog",
        "",
        "<!-- Generated by tools/contracts/events_catalog.py from protos/guild/events/v1 and the services'",
        "     handler tables. Do not edit: run `.venv/bin/python tools/contracts/events_catalog.py`. -->",
        "",
        "Guild publishes its domain events to NATS JetStream as CloudEvents, following the CloudEvents NATS",
        "protocol binding in binary mode: every attribute travels as a `ce-<attribute>` NATS header and the",
        "data is the protobuf payload named by `ce-dataschema`. The AsyncAPI 3.0 description of the same",
        "events is [`asyncapi.yaml`](asyncapi.yaml); a consumer to start from is",
        "[`examples/hr_consumer`](../examples/hr_consumer/).",
        "",
        "## Envelope",
        "",
        "| Header | Value |",
        "|---|---|",
        "| `ce-specversion` | `1.0` |",
        "| `ce-id` | unique event id (UUID); also `Nats-Msg-Id`, so a republished event is deduplicated |",
        "| `ce-type` | `guild.<svc>.<name>.v<n>`, as listed below |",
        "| `ce-source` | `/guild/<svc>` |",
        "| `ce-subject` | id of the resource the event is about (e.g. the answer id); may be any UTF-8 |",
        "| `ce-time` | RFC 3339 UTC time of the change, e.g. `2026-05-04T09:12:03.120000Z` |",
        "| `ce-datacontenttype` | `application/protobuf` (the NATS binding's header for `datacontenttype`) |",
        "| `ce-dataschema` | absolute URI `urn:guild:proto:<message>`, e.g. "
        "`urn:guild:proto:guild.events.v1.AnswerAccepted`; the message is in the `guild-proto` package |",
        "| `ce-region`, `ce-programme` | extension attributes: the region and programme of the subject below "
        "(`global` for events about a person) |",
        "| `content-type` | `application/protobuf` as well, for readers that take `datacontenttype` from it "
        "(HTTP-style) |",
        "| `Nats-Msg-Id` | equal to `ce-id` (JetStream deduplication) |",
        "| `traceparent`, `tracestate` | W3C trace context of the write that caused the event |",
        "",
        "Header values are percent-encoded as the binding requires: space (`%20`), double quote (`%22`),",
        "percent (`%25`) and every character outside printable US-ASCII become the `%XY` of their UTF-8",
        "bytes, so a subject `zoë` travels as `ce-subject: zo%C3%AB`. Decode each `ce-` value with one round",
        "of percent-decoding (any CloudEvents SDK does). Events published before this form carry raw UTF-8",
        "values, no `ce-datacontenttype` and a bare message name in `ce-dataschema`; Guild still reads them,",
        "and a reader can tell the two forms apart by `ce-datacontenttype`.",
        "",
        "## Consuming the events from another system",
        "",
        "Create a durable JetStream pull consumer on the stream (`GUILD_COMMUNITY` for memberships and",
        "roles, `GUILD_REPUTATION` for points), filtered to the slice you take, with explicit acks;",
        "decode each message with the official CloudEvents SDK and the payload with the `guild-proto`",
        "package (see the README: build the wheel with `uv build --wheel libs/proto`). The official",
        "Python SDK (`pip install cloudevents nats-py`) has no NATS binding of its own, but the binary mode",
        "of its HTTP binding has the same `ce-` headers and percent-encoding, so it parses Guild's",
        "messages as they are:",
        "",
        "```python",
        "import nats",
        "from cloudevents.core.bindings.http import HTTPMessage, from_binary",
        "from cloudevents.core.formats.json import JSONFormat",
        "from guild.events.v1 import community_events_pb2",
        "",
        'nc = await nats.connect("nats://127.0.0.1:4222")',
        "sub = await nc.jetstream().pull_subscribe(",
        '    "guild.emea.*.community.member_joined", durable="hr_GUILD_COMMUNITY", stream="GUILD_COMMUNITY"',
        ")",
        "for msg in await sub.fetch(64, timeout=5):",
        "    event = from_binary(HTTPMessage(headers=dict(msg.headers), body=msg.data), JSONFormat())",
        '    assert event.get_dataschema() == "urn:guild:proto:guild.events.v1.MemberJoined"',
        "    joined = community_events_pb2.MemberJoined.FromString(msg.data)",
        '    print(event.get_id(), event.get_subject(), event.get_extension("region"), joined.member_id)',
        "    await msg.ack()  # after your own write: at least once, so deduplicate by event.get_id()",
        "```",
        "",
        "Other languages: the Java SDK's `cloudevents-nats` module and the Go SDK's NATS JetStream protocol",
        "read binary mode from the same `ce-` headers; any other NATS client needs only the headers above",
        "and a percent-decoder. `libs/common/tests/test_cloudevents.py` proves that the Python SDK reads",
        "what Guild writes through a real NATS server, and that Guild reads what the SDK writes.",
        "",
        "Subjects put region and programme first so that a deployment or an integrator can take one slice:",
        "`guild.<region>.<programme>.<svc>.<name>`. Each producing service has one stream,",
        "`GUILD_<SVC>`, with the subjects `guild.*.*.<svc>.>`, file storage, 7 days' retention",
        "(`GUILD_STREAM_MAX_AGE_DAYS`) and a 5 minutes' duplicate window. Events of one resource keep",
        "their order; there is no order across resources. Delivery is at least once: consumers",
        "deduplicate by `ce-id`.",
        "",
        "Events about a person rather than a community (profile updates, follows of people, tags and",
        "the like) travel as `guild.global.global.<svc>.<name>`: a consumer that takes one slice takes",
        "`guild.global.global.<svc>.>` as well (JetStream filter subjects that never overlap).",
        "",
        "Guild's own consumers are durable pull consumers named `<service>_<stream>` (with the slice,",
        "`<service>_<region|all>_<programme|all>_<stream>`, when a deployment sets `GUILD_REGION_FILTER` or",
        "`GUILD_PROGRAMME_FILTER`).",
        "",
        "## Summary",
        "",
        "| Type | Stream | Producer | Consumers |",
        "|---|---|---|---|",
    ]
    for e in events:
        consumers = ", ".join(e.consumers) or "none in Guild"
        producer = e.producer if e.published else f"{e.producer} (declared, not yet published)"
        out.append(f"| [`{e.type}`](#{e.type.replace('.', '')}) | `{e.stream}` | {producer} | {consumers} |")
    out.append("")
    for e in events:
        out.extend(
            [
                f"## {e.type}",
                "",
            ]
        )
        if e.description:
            out.extend([e.description[:1].upper() + e.description[1:], ""])
        durables = ", ".join(_durable(c, e) for c in e.consumers)
        out.extend(
            [
                "| | |",
                "|---|---|",
                f"| Subject | `{e.subject}` |",
                f"| Stream | `{e.stream}` |",
                f"| Payload | `{e.message}` ([{e.proto_file}](../{e.proto_file}); "
                f"Python `{e.python_module}`) |",
                f"| Producer | {e.producer}"
                + ("" if e.published else " (declared, not yet published)")
                + " |",
                f"| Consumers | {durables or 'none in Guild'} |",
                "",
                "| # | Field | Type | Description |",
                "|---|---|---|---|",
            ]
        )
        for f in e.fields:
            out.append(f"| {f.number} | `{f.name}` | `{f.type}` | {_cell(f.comment)} |")
        out.append("")
    out.extend(
        [
            "## Version policy",
            "",
            "- A published event type is a contract. Within one version only compatible changes are made:",
            "  new fields with new numbers (consumers ignore fields they do not know). Fields are never",
            "  removed, renumbered, renamed or given another type; a field no longer filled stays declared,",
            "  marked `[deprecated = true]` with a comment. `buf breaking` (FILE rules, run by",
            "  tools/contracts/breaking.sh) fails the build on such a change.",
            "- A breaking change is a new type, `guild.<svc>.<name>.v2` with its own message (e.g.",
            "  `AnswerAcceptedV2`), published alongside `.v1` on the same stream for a deprecation period of",
            "  at least the stream's retention plus one release, so every consumer can move at its own pace.",
            "  The catalog then lists both; `.v1` is removed only when no handler table names it.",
            "- Consumers must ignore event types they do not handle and fields they do not know, and must",
            "  be idempotent by `ce-id`: events are delivered at least once.",
            "",
        ]
    )
    return "\n".join(out)


# -- docs/asyncapi.yaml ------------------------------------------------------------------------------


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _key(event: Event) -> str:
    """An identifier for channels, messages and operations: ``contentAnswerAcceptedV1``."""
    return f"{event.producer}{_pascal(event.name)}V{event.version}"


def _payload_schema(event: Event) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for f in event.fields:
        repeated = f.type.startswith("repeated ")
        base = f.type.removeprefix("repeated ")
        schema: dict[str, Any] = dict(_JSON_TYPES.get(base, {"type": "object"}))
        if repeated:
            schema = {"type": "array", "items": schema}
        if f.comment:
            schema["description"] = f.comment
        schema["x-protobuf-field-number"] = f.number
        schema["x-protobuf-type"] = f.type
        properties[f.name] = schema
    return {
        "type": "object",
        "description": (
            "The payload in the proto3 JSON mapping with proto field names, as examples/hr_consumer "
            "prints it (json_format with preserving_proto_field_name); parsers accept these names and "
            "their lowerCamelCase forms."
        ),
        "properties": properties,
    }


def build_asyncapi(events: Sequence[Event]) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for e in events:
        key = _key(e)
        messages[key] = {
            "name": e.type,
            "title": e.message_name,
            "summary": e.description or f"{e.type} from the {e.producer} service.",
            "contentType": "application/protobuf",
            "headers": {"$ref": "#/components/schemas/CloudEventsHeaders"},
            "payload": {
                "schemaFormat": "application/vnd.google.protobuf;version=3",
                "schema": {"$ref": f"../{e.proto_file}#{e.message}"},
            },
            "x-ce-type": e.type,
            "x-ce-dataschema": f"urn:guild:proto:{e.message}",
            "x-json-payload": _payload_schema(e),
        }
        channels[key] = {
            "address": f"guild.{{region}}.{{programme}}.{e.producer}.{e.name}",
            "title": e.type,
            "description": (f"Stream `{e.stream}`. Consumers in Guild: {', '.join(e.consumers) or 'none'}."),
            "parameters": {
                "region": {"$ref": "#/components/parameters/region"},
                "programme": {"$ref": "#/components/parameters/programme"},
            },
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "x-jetstream-stream": e.stream,
        }
        operations[f"publish{key[0].upper()}{key[1:]}"] = {
            "action": "send",
            "title": f"{e.producer} publishes {e.type}",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
            "x-producer": f"guild-{e.producer}",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Guild events",
            "version": "1.0.0",
            "description": (
                "Domain events of Guild on NATS JetStream, as CloudEvents in binary mode (attributes in "
                "NATS headers, protobuf data). Generated by tools/contracts/events_catalog.py; see "
                "docs/events.md for the version policy."
            ),
        },
        "defaultContentType": "application/protobuf",
        "servers": {
            "nats": {
                "host": "nats:4222",
                "protocol": "nats",
                "description": "The NATS JetStream cluster of a Guild deployment.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "parameters": {
                "region": {
                    "description": "Region of the community the event is about, e.g. emea, amer, apac.",
                    "examples": ["emea", "amer", "apac"],
                },
                "programme": {
                    "description": "Programme of the community, e.g. induction or healthcare-cpd.",
                    "examples": ["induction", "healthcare-cpd"],
                },
            },
            "messages": messages,
            "schemas": {
                "CloudEventsHeaders": {
                    "type": "object",
                    "description": (
                        "CloudEvents NATS protocol binding, binary mode: ce- header values are "
                        "percent-encoded (space, double quote, percent and non-printable-ASCII as UTF-8 %XY)."
                    ),
                    "required": [
                        "ce-specversion",
                        "ce-id",
                        "ce-type",
                        "ce-source",
                        "ce-time",
                        "ce-datacontenttype",
                        "ce-dataschema",
                        "ce-region",
                        "ce-programme",
                        "content-type",
                        "Nats-Msg-Id",
                    ],
                    "properties": {
                        "ce-specversion": {"type": "string", "const": "1.0"},
                        "ce-id": {"type": "string", "description": "Unique event id."},
                        "ce-type": {"type": "string", "description": "guild.<svc>.<name>.v<n>"},
                        "ce-source": {"type": "string", "description": "/guild/<svc>"},
                        "ce-subject": {"type": "string", "description": "Id of the resource concerned."},
                        "ce-time": {"type": "string", "format": "date-time"},
                        "ce-datacontenttype": {"type": "string", "const": "application/protobuf"},
                        "ce-dataschema": {
                            "type": "string",
                            "format": "uri",
                            "description": "urn:guild:proto:<full protobuf message name of the data>.",
                        },
                        "ce-region": {"type": "string", "description": "Extension: region of the subject."},
                        "ce-programme": {
                            "type": "string",
                            "description": "Extension: programme of the subject.",
                        },
                        "content-type": {"type": "string", "const": "application/protobuf"},
                        "Nats-Msg-Id": {"type": "string", "description": "Equal to ce-id (dedupe)."},
                        "traceparent": {"type": "string", "description": "W3C trace context."},
                        "tracestate": {"type": "string"},
                    },
                }
            },
        },
    }


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text, ensure_ascii=False)


def to_yaml(value: Any, indent: int = 0) -> str:
    """A small block-style YAML emitter for dicts, lists and scalars (strings quoted when needed)."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict | list) and v:
                lines.append(f"{pad}{_scalar(k)}:")
                lines.append(to_yaml(v, indent + 1))
            else:
                empty = "{}" if isinstance(v, dict) else "[]" if isinstance(v, list) else _scalar(v)
                lines.append(f"{pad}{_scalar(k)}: {empty}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = to_yaml(item, indent + 1)
                lines.append(f"{pad}- {nested.lstrip()}")
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(f"{pad}{_scalar(value)}")
    return "\n".join(lines)


def render_asyncapi(events: Sequence[Event]) -> str:
    header = (
        "# Generated by tools/contracts/events_catalog.py from protos/guild/events/v1 and the services'\n"
        "# handler tables. Do not edit: run `.venv/bin/python tools/contracts/events_catalog.py`.\n"
    )
    return header + to_yaml(build_asyncapi(events)) + "\n"


# -- command line ------------------------------------------------------------------------------------


def render_type_module(events: Sequence[Event]) -> str:
    """``guild_common.events.catalog``: each event type and its payload message, so that a service checks
    at start-up that every event type it decodes is one the protos declare, with the message they name."""
    lines = [
        '"""Every event type and the full name of its payload message.',
        "",
        "Generated by tools/contracts/events_catalog.py from protos/guild/events/v1. Do not edit: run",
        '``.venv/bin/python tools/contracts/events_catalog.py``."""',
        "",
        "EVENT_MESSAGES: dict[str, str] = {",
        *(f'    "{e.type}": "{e.message}",' for e in sorted(events, key=lambda e: e.type)),
        "}",
    ]
    return "\n".join(lines) + "\n"


def outputs(events: Sequence[Event]) -> dict[Path, str]:
    return {
        EVENTS_MD: render_markdown(events),
        ASYNCAPI_YAML: render_asyncapi(events),
        TYPE_MODULE: render_type_module(events),
    }


def stale(expected: dict[Path, str]) -> list[Path]:
    return [path for path, text in expected.items() if not path.is_file() or path.read_text() != text]


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if the committed documents are stale")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        expected = outputs(load_events())
    except CatalogError as exc:
        print(f"events catalog: {exc}", file=sys.stderr)
        return 2
    if args.check:
        out_of_date = stale(expected)
        if out_of_date:
            names = ", ".join(str(p.relative_to(ROOT)) for p in out_of_date)
            print(
                f"events catalog: {names} stale; run .venv/bin/python tools/contracts/events_catalog.py",
                file=sys.stderr,
            )
            return 1
        return 0
    for path, text in expected.items():
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

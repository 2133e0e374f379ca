"""A reference consumer of Guild's membership, reputation, badge and recognition events.

It creates one durable JetStream pull consumer per stream (``GUILD_COMMUNITY``, ``GUILD_REPUTATION``
and any ``GUILD_*`` stream whose name mentions badges or recognition), decodes each CloudEvent with the
official CloudEvents SDK (``cloudevents`` on PyPI: the percent-encoded ``ce-*`` NATS headers of the
binding's binary mode, and the protobuf payload named by ``ce-dataschema``) and prints it as one JSON
object per line. A message is acknowledged only after its line is written, so a crash re-delivers
it: deduplicate downstream by ``id`` (the CloudEvents id).

Run it with the workspace environment (it needs ``nats-py``, ``cloudevents`` and ``guild-proto``)::

    .venv/bin/python examples/hr_consumer/hr_consumer.py --nats nats://127.0.0.1:4222

See README.md next to this file for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib
import json
import pkgutil
import signal
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import nats
from cloudevents.core.bindings.http import HTTPMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

import guild.events.v1

#: Streams every HR integration wants: memberships and roles, points.
REQUIRED_STREAMS = ("GUILD_COMMUNITY", "GUILD_REPUTATION")
#: Further streams taken when they exist.
OPTIONAL_STREAM_WORDS = ("BADGE", "RECOGNITION")
#: ``dataschema`` is this prefix and the protobuf message's full name.
SCHEMA_PREFIX = "urn:guild:proto:"


def load_event_modules() -> None:
    """Import every generated ``guild.events.v1`` module so its messages are in the descriptor pool."""
    for module in pkgutil.iter_modules(guild.events.v1.__path__):
        if module.name.endswith("_pb2"):
            importlib.import_module(f"guild.events.v1.{module.name}")


def message_class(full_name: str) -> type[Message] | None:
    """The generated class of a protobuf message by its full name (``ce-dataschema``)."""
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    except KeyError:
        return None
    return message_factory.GetMessageClass(descriptor)


def decode(msg: Msg) -> dict[str, Any]:
    """One received message as a JSON-ready dict: CloudEvents attributes and the decoded data.

    The NATS binding's binary mode has the HTTP binding's ``ce-`` headers and percent-encoding, so the
    SDK's HTTP binding parses it; ``datacontenttype`` is in ``ce-datacontenttype`` (and ``content-type``)."""
    cloud_event = from_binary(HTTPMessage(headers=dict(msg.headers or {}), body=msg.data), JSONFormat())
    time = cloud_event.get_time()
    event: dict[str, Any] = {
        "type": cloud_event.get_type(),
        "id": cloud_event.get_id(),
        "time": time.isoformat().replace("+00:00", "Z") if time else "",
        "source": cloud_event.get_source(),
        "subject": cloud_event.get_subject() or "",
        "topic": msg.subject,
        "dataschema": cloud_event.get_dataschema() or "",
        "region": cloud_event.get_extension("region"),
        "programme": cloud_event.get_extension("programme"),
    }
    name = event["dataschema"].removeprefix(SCHEMA_PREFIX)
    cls = message_class(name) if name else None
    if cls is None:
        event["data_base64"] = base64.b64encode(msg.data).decode()
        event["error"] = f"unknown dataschema {event['dataschema']!r}"
        return event
    payload = cls()
    try:
        payload.ParseFromString(msg.data)
    except DecodeError as exc:
        event["data_base64"] = base64.b64encode(msg.data).decode()
        event["error"] = f"undecodable payload: {exc}"
        return event
    event["data"] = json_format.MessageToDict(payload, preserving_proto_field_name=True)
    return event


@dataclass(frozen=True)
class Options:
    nats_url: str
    name: str
    region: str
    programme: str
    since: datetime | None
    exit_when_idle: float
    batch: int


def durable_name(options: Options, stream: str) -> str:
    """``<name>_<stream>``, with the slice when one is taken (Guild's own naming)."""
    if options.region == "*" and options.programme == "*":
        return f"{options.name}_{stream}"
    region = "all" if options.region == "*" else options.region
    programme = "all" if options.programme == "*" else options.programme
    return f"{options.name}_{region}_{programme}_{stream}".replace(".", "-")


async def wanted_streams(js: JetStreamContext, stop: asyncio.Event) -> dict[str, str]:
    """Stream name -> its producing service, waiting until the required streams exist."""
    while True:
        found: dict[str, str] = {}
        for info in await js.streams_info():
            name = info.config.name or ""
            if name in REQUIRED_STREAMS or (
                name.startswith("GUILD_") and any(word in name for word in OPTIONAL_STREAM_WORDS)
            ):
                found[name] = name.removeprefix("GUILD_").lower()
        missing = [s for s in REQUIRED_STREAMS if s not in found]
        if not missing or stop.is_set():
            return found
        print(f"hr_consumer: waiting for streams {', '.join(missing)}", file=sys.stderr, flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def subscribe(
    js: JetStreamContext, options: Options, stream: str, service: str
) -> JetStreamContext.PullSubscription:
    subject = f"guild.{options.region}.{options.programme}.{service}.>"
    config = ConsumerConfig(
        durable_name=durable_name(options, stream),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.BY_START_TIME if options.since else DeliverPolicy.ALL,
        opt_start_time=options.since,
        ack_wait=30,
        max_deliver=-1,
        filter_subject=subject,
    )
    return await js.pull_subscribe(subject, durable=config.durable_name, stream=stream, config=config)


async def consume(options: Options, out: TextIO = sys.stdout) -> int:
    load_event_modules()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    nc = await nats.connect(options.nats_url, name=options.name)
    try:
        js = nc.jetstream()
        streams = await wanted_streams(js, stop)
        subscriptions = [await subscribe(js, options, s, svc) for s, svc in sorted(streams.items())]
        print(f"hr_consumer: consuming {', '.join(sorted(streams))}", file=sys.stderr, flush=True)
        idle_since = loop.time()
        while not stop.is_set():
            received = 0
            for subscription in subscriptions:
                try:
                    messages = await subscription.fetch(options.batch, timeout=0.5)
                except (TimeoutError, NatsTimeoutError):
                    continue
                for msg in messages:
                    out.write(json.dumps(decode(msg), sort_keys=True) + "\n")
                    out.flush()
                    await msg.ack()
                    received += 1
            if received:
                idle_since = loop.time()
            elif options.exit_when_idle and loop.time() - idle_since >= options.exit_when_idle:
                break
    finally:
        # Acks are already sent; flush them and close (a drain would wait on the pull inboxes).
        with contextlib.suppress(Exception):
            await nc.flush(timeout=2)
        await nc.close()
    return 0


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description="Print Guild's HR-relevant events as JSON lines.")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS URL")
    parser.add_argument("--name", default="hr_consumer", help="durable consumer name prefix")
    parser.add_argument("--region", default="*", help="take only this region (default: all)")
    parser.add_argument("--programme", default="*", help="take only this programme (default: all)")
    parser.add_argument(
        "--since",
        type=datetime.fromisoformat,
        help="on first start, begin at this time (ISO 8601 with offset) instead of the stream's start",
    )
    parser.add_argument(
        "--exit-when-idle", type=float, default=0.0, help="exit after this many seconds without events"
    )
    parser.add_argument("--batch", type=int, default=64, help="messages fetched per pull")
    args = parser.parse_args(argv)
    return Options(
        nats_url=args.nats,
        name=args.name,
        region=args.region,
        programme=args.programme,
        since=args.since,
        exit_when_idle=args.exit_when_idle,
        batch=args.batch,
    )


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(consume(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())

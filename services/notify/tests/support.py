"""Helpers of the notify service tests: event streams to publish on, an SMTP server, inbox polling, the
service on either in-memory ports or the real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import nats
import pytest
import pytest_asyncio
from google.protobuf.message import Message
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from services.notify.tests.app_world import World, serving

from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.publisher import JetStreamPublisher
from guild_common.events.streams import ensure_stream, stream_config
from guild_common.mongo import Document, ensure_indexes
from guild_common.settings import ServiceSettings
from guild_notify.adapters import broadcasts_store, xapi_store
from guild_notify.bootstrap import build
from guild_notify.config import NotifySettings
from guild_testing.fixtures import Infra, auth, database_name
from guild_testing.inprocess import running_service


@dataclass
class Events:
    """Publishes events as the content and community services would."""

    js: nats.js.JetStreamContext

    async def emit(self, service: str, name: str, payload: Message) -> Envelope:
        envelope = new_envelope(
            service=service, name=name, payload=payload, subject="s", region="emea", programme="sales"
        )
        await JetStreamPublisher(self.js).publish(envelope)
        return envelope

    async def redeliver(self, envelope: Envelope, msg_id: str) -> None:
        """The same event again, past JetStream's dedupe (as after a consumer crash before its ack)."""
        await self.js.publish(
            envelope.topic, envelope.data, headers={**envelope.headers(), "Nats-Msg-Id": msg_id}
        )


@pytest_asyncio.fixture
async def events(infra: Infra, clean_streams: None) -> AsyncIterator[Events]:
    nc = await nats.connect(infra.nats_url)
    for service in ("content", "community", "reputation"):
        await ensure_stream(
            nc.jetstream(), stream_config(service, max_age_days=7, duplicate_window_seconds=300)
        )
    yield Events(nc.jetstream())
    await nc.close()


async def wait_for_inbox(
    stub: api_grpc.NotifyServiceStub, who: str, count: int, *, timeout: float = 10.0
) -> api.ListNotificationsResponse:
    """The member's first page once it holds at least ``count`` notifications."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response: api.ListNotificationsResponse = await stub.ListNotifications(
            api.ListNotificationsRequest(page_size=100), metadata=auth(who)
        )
        if len(response.notifications) >= count:
            return response
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{who} has {len(response.notifications)} notifications, expected {count}")
        await asyncio.sleep(0.05)


@pytest_asyncio.fixture
async def dbs(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[list[AsyncDatabase[Document]]]:
    """One fresh database seen through two clients, as two replicas of the service see it."""
    clients: list[AsyncMongoClient[Document]] = [
        AsyncMongoClient(infra.mongo_uri, tz_aware=True) for _ in range(2)
    ]
    name = database_name(request.node.name)
    await clients[0].drop_database(name)
    dbs = [c[name] for c in clients]
    await ensure_indexes(
        dbs[0],
        [*broadcasts_store.SCHEMA.indexes, *broadcasts_store.SEQUENCE_INDEXES, *xapi_store.SCHEMA.indexes],
    )
    try:
        yield dbs
    finally:
        for client in clients:
            await client.close()


@pytest_asyncio.fixture
async def memory_stub() -> AsyncIterator[api_grpc.NotifyServiceStub]:
    """A stub of the notify service running on in-memory ports in the test's loop."""
    async with serving(World()) as stub:
        yield stub


@pytest.fixture(params=["memory", pytest.param("servers", marks=pytest.mark.servers)])
def any_stub(request: pytest.FixtureRequest) -> api_grpc.NotifyServiceStub:
    """The notify service on in-memory ports (``memory``), or with default settings on FerretDB and NATS
    (``servers``, the :func:`stub` fixture): for tests that only call its RPCs."""
    name = "stub" if request.param == "servers" else "memory_stub"
    chosen: api_grpc.NotifyServiceStub = request.getfixturevalue(name)
    return chosen


@pytest_asyncio.fixture
async def stub(
    settings_for: Callable[..., ServiceSettings], events: Events
) -> AsyncIterator[api_grpc.NotifyServiceStub]:
    """A stub of the notify service running with default settings in the test's loop."""
    async with running_service(settings_for(NotifySettings), build) as running:
        yield api_grpc.NotifyServiceStub(running.channel)


class Mailbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.messages) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(self.messages)} emails received, expected {count}")
            await asyncio.sleep(0.05)
        return self.messages


@contextmanager
def smtp_server(port: int) -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller  # a test-only dependency, needed only here

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()

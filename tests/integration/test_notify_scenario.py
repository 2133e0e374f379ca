"""A new resource reaches a community's members: in-app, by email and in a digest, across processes.

The suite runs as processes with notify sending email to a real SMTP server on loopback. An owner
creates a community; ann and bob join. ann turned digests off and asked for new content by email; bob
reads a daily digest. The owner shares a resource with content's ShareResource. Both see it in their
inbox (stored once, merged on read), ann receives it by email at once, and bob receives it in his
daily digest: the test runs the digest for the period that includes now against notify's database (the
notify process itself runs only the last complete day's and week's digests), and the notify process
sends the queued digest email.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf.field_mask_pb2 import FieldMask
from pymongo import AsyncMongoClient
from tests.integration.harness import SuiteProcesses

from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.content.v1 import content_service_pb2 as content_api
from guild.content.v1 import content_service_pb2_grpc as content_grpc
from guild.notify.v1 import notification_pb2 as pb
from guild.notify.v1 import notify_service_pb2 as notify_api
from guild.notify.v1 import notify_service_pb2_grpc as notify_grpc
from guild_common.clock import utc_now
from guild_common.mongo import Document
from guild_notify.adapters.broadcasts_store import MongoMemberships
from guild_notify.adapters.digests_store import MongoContentFeed, MongoDigestRuns
from guild_notify.adapters.email_store import MongoEmailOutbox
from guild_notify.adapters.preferences_store import MongoPreferences
from guild_notify.app.digests import DigestRunner
from guild_notify.app.unsubscribe import UnsubscribeTokens
from guild_notify.config import NotifySettings
from guild_notify.domain.digests import last_complete_period
from guild_notify.domain.preferences import DigestFrequency
from guild_testing.calendar import clear_of_midnight
from guild_testing.fixtures import auth
from guild_testing.polling import eventually
from guild_testing.processes import free_port

TITLE = "Sales onboarding playbook"


class Mailbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def mailbox(smtp_port: int) -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    received = Mailbox()
    controller = Controller(received, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        yield received
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def suite_services() -> tuple[str, ...]:
    return ("community", "content", "notify")


@pytest.fixture(scope="module")
def suite_env(smtp_port: int, mailbox: Mailbox) -> Mapping[str, str]:
    return {
        "GUILD_SMTP_HOST": "127.0.0.1",
        "GUILD_SMTP_PORT": str(smtp_port),
        "GUILD_EMAIL_SWEEP_SECONDS": "0.2",
    }


@dataclass
class Shared:
    community_id: str
    resource_id: str
    notify: notify_grpc.NotifyServiceStub

    async def inbox(self, member: str) -> list[pb.Notification]:
        response = await self.notify.ListNotifications(
            notify_api.ListNotificationsRequest(page_size=50), metadata=auth(member)
        )
        return list(response.notifications)


async def _preferences(
    notify: notify_grpc.NotifyServiceStub, who: str, prefs: pb.Preferences, *paths: str
) -> None:
    await notify.UpdatePreferences(
        notify_api.UpdatePreferencesRequest(preferences=prefs, update_mask=FieldMask(paths=list(paths))),
        metadata=auth(who),
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shared(suite: SuiteProcesses) -> Shared:
    # The digest test runs today's digest: the welcome and the resource must be written on the same UTC
    # day it is run (and notify's own run of the last complete day must not pick them up meanwhile).
    await clear_of_midnight()
    community = community_grpc.CommunityServiceStub(suite.channel("community"))
    content = content_grpc.ContentServiceStub(suite.channel("content"))
    notify = notify_grpc.NotifyServiceStub(suite.channel("notify"))
    await _preferences(
        notify,
        "ann",
        pb.Preferences(
            email_address="ann@example.com",
            digest_frequency=pb.DIGEST_FREQUENCY_OFF,
            channels=[pb.ChannelPreference(type=pb.NOTIFICATION_TYPE_NEW_CONTENT, in_app=True, email=True)],
        ),
        "email_address",
        "digest_frequency",
        "channels",
    )
    await _preferences(
        notify,
        "bob",
        pb.Preferences(email_address="bob@example.com", digest_frequency=pb.DIGEST_FREQUENCY_DAILY),
        "email_address",
        "digest_frequency",
    )
    created = await community.CreateCommunity(
        community_api.CreateCommunityRequest(
            name="Sales EMEA", slug="sales-emea-notify", programme="sales", region="emea"
        ),
        metadata=auth("olivia"),
    )
    community_id = created.community.id
    for person in ("ann", "bob"):
        await community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=community_id), metadata=auth(person)
        )

    # notify learns memberships from community's events: once the owner may broadcast and both members
    # see the welcome, notify knows all three.
    async def welcome() -> bool:
        try:
            await notify.CreateBroadcast(
                notify_api.CreateBroadcastRequest(
                    broadcast=pb.Broadcast(community_id=community_id, text="Welcome"), request_id="welcome"
                ),
                metadata=auth("olivia"),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.PERMISSION_DENIED:
                raise
            return False
        return True

    await eventually(welcome, bool)
    result = Shared(community_id, "", notify)
    for person in ("ann", "bob"):
        await eventually(lambda p=person: result.inbox(p), lambda inbox: len(inbox) == 1)  # type: ignore[misc]

    resource = await content.ShareResource(
        content_api.ShareResourceRequest(
            community_id=community_id,
            url="https://learn.example.com/playbook",
            title=TITLE,
            media_type="book",
        ),
        metadata=auth("olivia"),
    )
    result.resource_id = resource.resource.id
    return result


@pytest.mark.asyncio(loop_scope="session")
async def test_the_new_resource_reaches_every_member_in_app(shared: Shared) -> None:
    for person in ("ann", "bob"):
        inbox = await eventually(lambda p=person: shared.inbox(p), lambda n: len(n) == 2)  # type: ignore[misc]
        newest = inbox[0]
        assert (newest.type, newest.subject_id, newest.actor_id, newest.community_id, newest.read) == (
            pb.NOTIFICATION_TYPE_NEW_CONTENT,
            shared.resource_id,
            "olivia",
            shared.community_id,
            False,
        )
        assert newest.text == f"New resource: \u201c{TITLE}\u201d"
    assert await shared.inbox("carl") == []


@pytest.mark.asyncio(loop_scope="session")
async def test_the_member_who_asked_for_it_gets_an_email(shared: Shared, mailbox: Mailbox) -> None:
    async def received() -> list[EmailMessage]:
        return list(mailbox.messages)

    messages = await eventually(received, lambda found: any(m["To"] == "ann@example.com" for m in found))
    to_ann = [m for m in messages if m["To"] == "ann@example.com"]
    assert len(to_ann) == 1
    assert to_ann[0]["Subject"] == "New in your community"
    text = str(to_ann[0].get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert TITLE in text
    assert "https://guild.local/unsubscribe?token=" in text
    assert not [m for m in messages if m["To"] == "bob@example.com"]  # bob reads digests


@pytest.mark.asyncio(loop_scope="session")
async def test_the_daily_digest_carries_it(suite: SuiteProcesses, shared: Shared, mailbox: Mailbox) -> None:
    settings = NotifySettings()
    client: AsyncMongoClient[Document] = AsyncMongoClient(suite.mongo_uri, tz_aware=True)
    try:
        db = client[suite.database("notify")]
        runner = DigestRunner(
            MongoMemberships(db),
            MongoPreferences(db),
            MongoContentFeed(db),
            MongoDigestRuns(db),
            MongoEmailOutbox(db),
            UnsubscribeTokens(settings.unsubscribe_secret),
            settings.unsubscribe_base_url,
        )
        period = last_complete_period(DigestFrequency.DAILY, utc_now() + timedelta(days=1))
        await eventually(
            lambda: MongoContentFeed(db).in_period([shared.community_id], period.start, period.end, 10),
            lambda items: len(items) == 2,
        )
        assert await runner.run(period) == 1  # bob; ann has digests off
        assert await runner.run(period) == 0
    finally:
        await client.close()

    async def digests() -> list[str]:
        return [
            str(m.get_body(("plain",)).get_content())  # type: ignore[union-attr]
            for m in mailbox.messages
            if m["To"] == "bob@example.com"
        ]

    [digest] = await eventually(digests, lambda found: len(found) == 1)
    assert f"[resource] {TITLE}" in digest
    assert "[notice] Welcome" in digest

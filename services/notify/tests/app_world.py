"""The notify service layer composed on in-memory ports, as ``bootstrap.build`` composes it on MongoDB:
the use cases, the notifier and the handlers of received events (``bootstrap.received_events``).

Handler tests build the typed events of ``domain.integration_events`` with :func:`meta` and pass them to
:meth:`World.handle`, which runs every handler of the event's class in the consumer's order."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import grpc
from services.notify.tests import memory

from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.events.inbound import Handler
from guild_common.events.meta import EventMeta
from guild_notify.app.broadcasts import BroadcastUseCases
from guild_notify.app.inbox import InboxUseCases
from guild_notify.app.live import LiveStreams
from guild_notify.app.notifier import Notifier
from guild_notify.app.preferences import PreferenceUseCases
from guild_notify.app.questions import UnansweredNudges
from guild_notify.app.questions_handlers import QuestionHandlers
from guild_notify.app.unsubscribe import UnsubscribeTokens
from guild_notify.app.webhooks import WEBHOOK_EVENT_TYPES, WebhookUseCases
from guild_notify.bootstrap import SERVICE_NAME, received_events
from guild_notify.config import NotifySettings
from guild_notify.domain.webhooks import allow_list
from guild_notify.entrypoints.grpc.notify_service import NotifyServicer
from guild_testing.memory import serving_in_memory

UNSUBSCRIBE_URL = "https://guild.example.com/unsubscribe"
_ids = itertools.count(1)


def meta(event_id: str = "", *, time: datetime | None = None, type: str = "") -> EventMeta:
    """The attributes of a received event: a fresh id unless given, written now unless ``time``."""
    return EventMeta(
        id=event_id or f"ev-{next(_ids)}",
        type=type,
        source="/guild/test",
        subject="s",
        time=time or utc_now(),
        region="emea",
        programme="sales",
    )


def who(subject: str, *scopes: str) -> Principal:
    return Principal(subject=subject, scopes=frozenset(scopes))


class RecordingLive(LiveStreams):
    """The live streams, remembering each member woken for a new personal notification."""

    def __init__(self) -> None:
        super().__init__()
        self.woken: list[str] = []

    def published(self, recipient_id: str) -> None:
        self.woken.append(recipient_id)
        super().published(recipient_id)


@dataclass
class World:
    unanswered_after: timedelta = timedelta(hours=24)
    settle: timedelta = timedelta(0)
    gap_grace_seconds: float = 5.0
    poll_seconds: float = 60.0
    webhook_hosts: str = "hooks.example.com"
    live: RecordingLive = field(default_factory=RecordingLive)
    inbox: memory.MemoryInbox = field(default_factory=memory.MemoryInbox)
    preferences: memory.MemoryPreferences = field(default_factory=memory.MemoryPreferences)
    emails: memory.MemoryEmailOutbox = field(default_factory=memory.MemoryEmailOutbox)
    memberships: memory.MemoryMemberships = field(default_factory=memory.MemoryMemberships)
    interests: memory.MemoryTagInterests = field(default_factory=memory.MemoryTagInterests)
    nudges: memory.MemoryNudges = field(default_factory=memory.MemoryNudges)
    feed: memory.MemoryContentFeed = field(default_factory=memory.MemoryContentFeed)
    runs: memory.MemoryDigestRuns = field(default_factory=memory.MemoryDigestRuns)
    webhooks: memory.MemoryWebhooks = field(default_factory=memory.MemoryWebhooks)
    deliveries: memory.MemoryDeliveries = field(default_factory=memory.MemoryDeliveries)
    tokens: UnsubscribeTokens = field(default_factory=lambda: UnsubscribeTokens("test-secret"))
    scheduled: int = 0
    replays: int = 0

    def __post_init__(self) -> None:
        self.broadcasts = memory.MemoryBroadcasts(on_create=self.live.community_published)
        self.notifier = Notifier(
            self.inbox, self.preferences, self.live, self.emails, self.tokens, UNSUBSCRIBE_URL
        )
        self.nudger = UnansweredNudges(self.nudges, self.memberships, self.notifier, sweep_seconds=60)
        self.questions = QuestionHandlers(
            self.notifier,
            self.memberships,
            self.interests,
            self.nudges,
            unanswered_after=self.unanswered_after,
            settle=self.settle,
            on_scheduled=self._on_scheduled,
        )
        self.handlers: dict[type, Handler] = received_events(
            self.notifier,
            memberships=self.memberships,
            feed=self.feed,
            interests=self.interests,
            broadcasts=self.broadcasts,
            preferences=self.preferences,
            questions=self.questions,
        )
        self.inbox_uc = InboxUseCases(
            self.inbox,
            self.live,
            poll_seconds=self.poll_seconds,
            broadcasts=self.broadcasts,
            memberships=self.memberships,
            preferences=self.preferences,
            gap_grace_seconds=self.gap_grace_seconds,
        )
        self.prefs_uc = PreferenceUseCases(self.preferences, self.tokens)
        self.broadcasts_uc = BroadcastUseCases(self.broadcasts, self.memberships, self.feed)
        self.webhooks_uc = WebhookUseCases(
            self.webhooks,
            self.deliveries,
            allowed=allow_list(self.webhook_hosts.split(",")),
            allow_http=False,
            event_types=WEBHOOK_EVENT_TYPES,
            on_replay=self._on_replay,
        )

    def _on_scheduled(self) -> None:
        self.scheduled += 1

    def _on_replay(self) -> None:
        self.replays += 1

    async def handle(self, event: Any) -> None:
        """Every handler of the event's class, as the consumer runs them."""
        await self.handlers[type(event)](event)

    async def join(
        self, community_id: str, *members: str, role: str = "member", at: datetime | None = None
    ) -> None:
        for member in members:
            await self.memberships.joined(community_id, member, role, at or utc_now())

    async def listed(self, member: str, **kw: Any) -> list[str]:
        """The ids on the member's first page (of up to 100)."""
        page = await self.inbox_uc.list_notifications(
            who(member), kw.get("unread_only", False), kw.get("page_size", 100), ""
        )
        return [n.id for n in page.items]


@asynccontextmanager
async def serving(world: World) -> AsyncIterator[api_grpc.NotifyServiceStub]:
    """The notify gRPC service on the world's in-memory ports (``serving_in_memory``)."""
    settings = NotifySettings(grpc_host="127.0.0.1", grpc_port=0, rate_limit_per_second=0)
    servicer = NotifyServicer(world.inbox_uc, world.prefs_uc, world.webhooks_uc, world.broadcasts_uc)

    def register(server: grpc.aio.Server) -> list[str]:
        api_grpc.add_NotifyServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    async with serving_in_memory(settings, register) as channel:
        yield api_grpc.NotifyServiceStub(channel)

"""Composition root of the notify service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import grpc

import guild_notify.adapters
from guild.notify.v1 import notify_service_pb2, notify_service_pb2_grpc
from guild_common.events.consumer import consumer_indexes
from guild_common.events.envelope import Envelope
from guild_common.events.inbound import Handler, bind, combine
from guild_common.grpc.server import ServiceServer, Worker
from guild_common.idempotency import IdempotencyKeys
from guild_common.infrastructure import Infrastructure
from guild_common.mongo import StoreSchema, collect_schema, ensure_indexes
from guild_common.settings import ServiceSettings
from guild_common.workers import event_consumer
from guild_notify.adapters import broadcasts_store, inbox_store
from guild_notify.adapters.broadcasts_store import MongoBroadcasts, MongoMemberships
from guild_notify.adapters.digests_store import MongoContentFeed, MongoDigestRuns
from guild_notify.adapters.email_store import MongoEmailOutbox
from guild_notify.adapters.inbox_store import MongoInbox
from guild_notify.adapters.interests_store import MongoTagInterests
from guild_notify.adapters.lrs_client import HttpxStatementSender
from guild_notify.adapters.nudges_store import MongoNudges
from guild_notify.adapters.preferences_store import MongoPreferences
from guild_notify.adapters.smtp_client import SmtpMailer
from guild_notify.adapters.webhook_client import HttpxPoster, event_json
from guild_notify.adapters.webhooks_store import MongoDeliveries, MongoWebhooks
from guild_notify.adapters.xapi_store import MongoStatementQueue
from guild_notify.app.broadcasts import BroadcastUseCases
from guild_notify.app.broadcasts_handlers import BroadcastHandlers
from guild_notify.app.digests import DigestPreferences, DigestRunner, DigestScheduler
from guild_notify.app.digests_handlers import DigestHandlers
from guild_notify.app.email_delivery import EmailDelivery
from guild_notify.app.inbox import InboxUseCases
from guild_notify.app.live import LiveStreams
from guild_notify.app.memberships_handlers import MembershipHandlers
from guild_notify.app.notifications_handlers import NotificationHandlers
from guild_notify.app.notifier import Notifier
from guild_notify.app.ports import BroadcastStore, ContentFeed, Memberships, TagInterests
from guild_notify.app.preferences import PreferenceUseCases
from guild_notify.app.questions import UnansweredNudges
from guild_notify.app.questions_handlers import InterestHandlers, QuestionHandlers
from guild_notify.app.unsubscribe import UnsubscribeTokens
from guild_notify.app.webhooks import (
    WEBHOOK_EVENT_TYPES,
    WebhookDelivery,
    WebhookFanout,
    WebhookUseCases,
    source_service,
)
from guild_notify.app.xapi import StatementDelivery, StatementRecorder
from guild_notify.config import NotifySettings
from guild_notify.domain.xapi import OptOuts, Profile
from guild_notify.entrypoints.event_decoders import DECODERS
from guild_notify.entrypoints.grpc.notify_service import NotifyServicer
from guild_notify.entrypoints.learning_events import LEARNING_EVENTS

SERVICE_NAME = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name

EventSink = Callable[[Envelope], Awaitable[None]]


def received_events(
    notifier: Notifier,
    *,
    memberships: Memberships,
    feed: ContentFeed,
    interests: TagInterests,
    broadcasts: BroadcastStore,
    preferences: DigestPreferences,
    questions: QuestionHandlers,
) -> dict[type, Handler]:
    """The handlers of each received event, by event class, in the order they run: the read models
    first, then notifications, broadcasts and nudges."""
    notifications = NotificationHandlers(notifier, memberships)
    return combine(
        MembershipHandlers(memberships).handlers(),
        DigestHandlers(feed).handlers(),
        InterestHandlers(interests).handlers(),
        notifications.handlers(),
        notifications.leader_handlers(),
        BroadcastHandlers(notifier, memberships, broadcasts, feed, preferences, preferences).handlers(),
        questions.handlers(),
    )


async def build(settings: ServiceSettings, infra: Infrastructure) -> ServiceServer:
    assert isinstance(settings, NotifySettings)
    # Notify publishes no events: it has no outbox to relay.
    schema = collect_schema(guild_notify.adapters, extra=[StoreSchema(indexes=consumer_indexes())])
    await ensure_indexes(infra.db, schema.indexes)
    inbox = MongoInbox(infra.db)
    await inbox.migrate()
    await ensure_indexes(infra.db, inbox_store.SEQUENCE_INDEXES)
    live = LiveStreams()
    broadcasts = MongoBroadcasts(infra.db, on_create=live.community_published)
    await broadcasts.backfill_sequences()
    await ensure_indexes(infra.db, broadcasts_store.SEQUENCE_INDEXES)
    preferences = MongoPreferences(infra.db)
    tokens = UnsubscribeTokens(settings.unsubscribe_secret)
    workers: list[Worker] = []

    delivery: EmailDelivery | None = None
    outbox = MongoEmailOutbox(infra.db, on_enqueue=lambda: delivery.wake() if delivery else None)
    if settings.smtp_host:  # without a host, emails wait queued until one is configured
        delivery = EmailDelivery(
            outbox,
            SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_from),
            retry_base_seconds=settings.email_retry_base_seconds,
            retry_max_seconds=settings.email_retry_max_seconds,
            sweep_seconds=settings.email_sweep_seconds,
        )
        workers.append(delivery)

    hooks, deliveries = MongoWebhooks(infra.db), MongoDeliveries(infra.db)
    poster = HttpxPoster(settings.webhook_deadline_seconds, settings.webhook_max_response_bytes)
    webhook_delivery = WebhookDelivery(
        hooks,
        deliveries,
        poster,
        max_attempts=settings.webhook_max_attempts,
        retry_base_seconds=settings.webhook_retry_base_seconds,
        retry_max_seconds=settings.webhook_retry_max_seconds,
        sweep_seconds=settings.webhook_sweep_seconds,
        deadline_seconds=settings.webhook_deadline_seconds,
        concurrency=settings.webhook_concurrency,
        per_endpoint=settings.webhook_concurrency_per_endpoint,
    )
    workers.append(webhook_delivery)
    fanout = WebhookFanout(hooks, deliveries, event_json)
    fanout.on_queued = webhook_delivery.wake

    learning_records, closers = await _learning_records(settings, infra, preferences, workers)

    notifier = Notifier(inbox, preferences, live, outbox, tokens, settings.unsubscribe_base_url)
    memberships = MongoMemberships(infra.db)
    feed = MongoContentFeed(infra.db)
    nudges, interests = MongoNudges(infra.db), MongoTagInterests(infra.db)
    nudger = UnansweredNudges(nudges, memberships, notifier, sweep_seconds=settings.nudge_sweep_seconds)
    workers.append(nudger)
    questions = QuestionHandlers(
        notifier,
        memberships,
        interests,
        nudges,
        unanswered_after=timedelta(seconds=settings.unanswered_after_seconds),
        settle=timedelta(seconds=settings.nudge_settle_seconds),
        on_scheduled=nudger.wake,
    )
    # For each event its decoded handlers, then the CloudEvent itself to learning records and webhooks.
    decoded = bind(
        DECODERS,
        received_events(
            notifier,
            memberships=memberships,
            feed=feed,
            interests=interests,
            broadcasts=broadcasts,
            preferences=preferences,
            questions=questions,
        ),
    )
    consumed = combine(
        decoded, learning_records, {event_type: fanout.on_event for event_type in WEBHOOK_EVENT_TYPES}
    )
    digests = DigestRunner(
        memberships,
        preferences,
        feed,
        MongoDigestRuns(infra.db),
        outbox,
        tokens,
        settings.unsubscribe_base_url,
    )
    workers.append(DigestScheduler(digests, check_seconds=settings.digest_check_seconds))
    for source in sorted({source_service(t) for t in consumed}):
        handlers = {t: h for t, h in consumed.items() if source_service(t) == source}
        workers.append(await event_consumer(infra, settings, source_service=source, handlers=handlers))

    servicer = NotifyServicer(
        InboxUseCases(
            inbox,
            live,
            poll_seconds=settings.stream_poll_seconds,
            broadcasts=broadcasts,
            memberships=memberships,
            preferences=preferences,
        ),
        PreferenceUseCases(preferences, tokens),
        WebhookUseCases(
            hooks,
            deliveries,
            allowed=settings.webhook_hosts,
            allow_http=settings.webhook_allow_http,
            event_types=WEBHOOK_EVENT_TYPES,
            on_replay=webhook_delivery.wake,
        ),
        BroadcastUseCases(broadcasts, memberships, feed),
    )

    def register(server: grpc.aio.Server) -> list[str]:
        notify_service_pb2_grpc.add_NotifyServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return ServiceServer(
        settings,
        register=register,
        workers=workers,
        healthy=infra.readiness,
        closers=[poster.aclose, *closers],
        idempotency=IdempotencyKeys(infra.db),
    )


async def _learning_records(
    settings: NotifySettings, infra: Infrastructure, preferences: MongoPreferences, workers: list[Worker]
) -> tuple[dict[str, EventSink], list[Callable[[], Awaitable[None]]]]:
    """xAPI statements to each configured Learning Record Store: the event sinks that queue them and
    one delivery worker per store. No store configured: nothing."""
    endpoints = [e.endpoint() for e in settings.xapi_endpoints]
    names = [e.name for e in endpoints]
    if len(set(names)) != len(names):
        raise ValueError(f"GUILD_XAPI_ENDPOINTS names an endpoint twice: {names}")
    if not endpoints:
        return {}, []
    queue = MongoStatementQueue(infra.db)
    sender = HttpxStatementSender(settings.xapi_timeout_seconds)
    recorder = StatementRecorder(
        queue,
        preferences,
        Profile(settings.xapi_homepage, settings.xapi_activity_base),
        names,
        OptOuts(settings.xapi_excluded),
        rules=LEARNING_EVENTS,
    )
    deliveries = [
        StatementDelivery(
            endpoint,
            queue,
            sender,
            max_attempts=settings.xapi_max_attempts,
            retry_base_seconds=settings.xapi_retry_base_seconds,
            retry_max_seconds=settings.xapi_retry_max_seconds,
            # a claim outlives the slowest request, so no other replica sends the batch meanwhile
            lease_seconds=2 * settings.xapi_timeout_seconds + 5.0,
            sweep_seconds=settings.xapi_sweep_seconds,
            batch_size=settings.xapi_batch_size,
        )
        for endpoint in endpoints
    ]
    workers.extend(deliveries)

    def wake_all() -> None:
        for delivery in deliveries:
            delivery.wake()

    recorder.on_queued = wake_all
    return recorder.sinks(), [sender.aclose]

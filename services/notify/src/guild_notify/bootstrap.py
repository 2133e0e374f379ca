"""Composition root of the notify service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import grpc

from guild.notify.v1 import notify_service_pb2, notify_service_pb2_grpc
from guild_common.events.consumer import consumer_indexes
from guild_common.grpc.server import ServiceServer, Worker
from guild_common.idempotency import IdempotencyKeys
from guild_common.infrastructure import Infrastructure
from guild_common.mongo import ensure_indexes
from guild_common.settings import ServiceSettings
from guild_common.workers import event_consumer
from guild_notify.adapters import email as email_adapter
from guild_notify.adapters import (
    mongo_broadcasts,
    mongo_digests,
    mongo_inbox,
    mongo_interests,
    mongo_nudges,
    mongo_preferences,
    webhooks,
    xapi,
)
from guild_notify.adapters.email import MongoEmailOutbox, SmtpMailer
from guild_notify.adapters.mongo_broadcasts import MongoBroadcasts, MongoMemberships
from guild_notify.adapters.mongo_digests import MongoContentFeed, MongoDigestRuns
from guild_notify.adapters.mongo_inbox import MongoInbox
from guild_notify.adapters.mongo_interests import MongoTagInterests
from guild_notify.adapters.mongo_nudges import MongoNudges
from guild_notify.adapters.mongo_preferences import MongoPreferences
from guild_notify.adapters.webhooks import HttpxPoster, MongoDeliveries, MongoWebhooks, event_json
from guild_notify.adapters.xapi import HttpxStatementSender, MongoStatementQueue
from guild_notify.app.digests import DigestRunner, DigestScheduler
from guild_notify.app.email_delivery import EmailDelivery
from guild_notify.app.event_handlers import (
    WEBHOOK_EVENT_TYPES,
    EventSink,
    NotificationEvents,
    audience_handlers,
    content_projections,
    membership_projections,
    merge_sinks,
)
from guild_notify.app.live import LiveStreams
from guild_notify.app.notifier import Notifier
from guild_notify.app.questions import UnansweredNudges, interest_projections, question_audiences
from guild_notify.app.unsubscribe import UnsubscribeTokens
from guild_notify.app.use_cases import BroadcastUseCases, InboxUseCases, PreferenceUseCases
from guild_notify.app.webhooks import WebhookDelivery, WebhookFanout, WebhookUseCases
from guild_notify.app.xapi import StatementDelivery, StatementRecorder
from guild_notify.config import NotifySettings
from guild_notify.domain.xapi import OptOuts, Profile
from guild_notify.entrypoints.grpc_api import NotifyServicer

SERVICE_NAME = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name


async def build(settings: ServiceSettings, infra: Infrastructure) -> ServiceServer:
    assert isinstance(settings, NotifySettings)
    await ensure_indexes(
        infra.db,
        [
            *mongo_inbox.INDEXES,
            *mongo_preferences.INDEXES,
            *email_adapter.INDEXES,
            *webhooks.INDEXES,
            *mongo_broadcasts.INDEXES,
            *mongo_digests.INDEXES,
            *mongo_interests.INDEXES,
            *mongo_nudges.INDEXES,
            *xapi.INDEXES,
            *consumer_indexes(),
        ],
    )
    inbox = MongoInbox(infra.db)
    await inbox.migrate()
    await ensure_indexes(infra.db, mongo_inbox.SEQUENCE_INDEXES)
    live = LiveStreams()
    broadcasts = MongoBroadcasts(infra.db, on_create=live.community_published)
    await broadcasts.backfill_sequences()
    await ensure_indexes(infra.db, mongo_broadcasts.SEQUENCE_INDEXES)
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
    events = NotificationEvents(
        notifier,
        webhooks=fanout.on_event,
        projections=merge_sinks(
            membership_projections(memberships),
            content_projections(feed),
            interest_projections(interests),
        ),
        audiences=merge_sinks(
            audience_handlers(notifier, memberships, broadcasts, feed, preferences, preferences),
            question_audiences(
                notifier,
                memberships,
                interests,
                nudges,
                unanswered_after=timedelta(seconds=settings.unanswered_after_seconds),
                settle=timedelta(seconds=settings.nudge_settle_seconds),
                on_scheduled=nudger.wake,
            ),
            learning_records,
        ),
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
    for source in events.sources():
        workers.append(
            await event_consumer(infra, settings, source_service=source, handlers=events.handlers(source))
        )

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

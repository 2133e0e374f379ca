"""Webhooks: registration, fan-out of events to deliveries, and the delivery worker.

Deliveries are records: queued once per (webhook, event), attempted with exponential backoff, each
attempt logged on the record, dead after ``max_attempts`` and replayable.

The fan-out forwards the CloudEvent as it came (``event_json`` renders the envelope), so it takes the
envelope rather than a decoded event.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

import structlog

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import FailedPrecondition, NotFound, PermissionDenied, Validator
from guild_common.events.envelope import Envelope
from guild_common.ids import id_for_request, new_id
from guild_common.pagination import clamp_page_size
from guild_common.sweeper import SweepingWorker
from guild_notify.app.email_delivery import retry_delay
from guild_notify.app.ports import DeliveryStore, HttpPoster, WebhookStore
from guild_notify.domain.webhooks import (
    ID_HEADER,
    MAX_EVENT_TYPES,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AllowedOrigin,
    Attempt,
    Delivery,
    DeliveryState,
    Webhook,
    delivery_id,
    signature,
    url_violations,
)

log = structlog.get_logger("guild.notify.webhooks")
WEBHOOK_SCOPE = "notify.webhooks"

# Events outside systems may subscribe to by webhook: every event that notifies someone
# (``notifications_handlers.RULES``), and these.
WEBHOOK_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "guild.content.answer_posted.v1",
        "guild.content.answer_accepted.v1",
        "guild.content.vote_changed.v1",
        "guild.content.post_removed.v1",
        "guild.content.post_hidden.v1",
        "guild.content.post_restored.v1",
        "guild.content.comment_posted.v1",
        "guild.content.mention_made.v1",
        "guild.community.role_granted.v1",
        "guild.reputation.badge_awarded.v1",
        "guild.content.question_asked.v1",
        "guild.content.answer_unaccepted.v1",
        "guild.content.post_flagged.v1",
        "guild.content.resource_shared.v1",
        "guild.content.post_created.v1",
        "guild.community.join_requested.v1",
        "guild.community.survey_opened.v1",
        "guild.community.community_created.v1",
        "guild.community.member_joined.v1",
        "guild.community.member_left.v1",
        "guild.community.role_revoked.v1",
        "guild.community.lifecycle_changed.v1",
        "guild.reputation.points_changed.v1",
    }
)


def source_service(event_type: str) -> str:
    """``guild.<svc>.<event>.v1`` -> ``<svc>``."""
    return event_type.split(".")[1]


class WebhookUseCases:
    def __init__(
        self,
        webhooks: WebhookStore,
        deliveries: DeliveryStore,
        *,
        allowed: Sequence[AllowedOrigin],
        allow_http: bool,
        event_types: frozenset[str],
        on_replay: Callable[[], None] = lambda: None,
    ) -> None:
        self._webhooks = webhooks
        self._deliveries = deliveries
        self._allowed = tuple(allowed)
        self._allow_http = allow_http
        self._event_types = event_types
        self._on_replay = on_replay

    async def create(self, caller: Principal, url: str, event_types: list[str], request_id: str) -> Webhook:
        if WEBHOOK_SCOPE not in caller.scopes and not caller.is_service:
            raise PermissionDenied(
                f"registering webhooks needs the {WEBHOOK_SCOPE} scope",
                reason="MISSING_SCOPE",
                metadata={"required_scope": WEBHOOK_SCOPE},
            )
        check = Validator()
        check.violations += url_violations(url, self._allowed, allow_http=self._allow_http)
        unique = list(dict.fromkeys(event_types))
        check.require(bool(unique), "webhook.event_types", "must name at least one event type")
        check.require(len(unique) <= MAX_EVENT_TYPES, "webhook.event_types", f"at most {MAX_EVENT_TYPES}")
        unknown = [t for t in unique if t not in self._event_types]
        check.require(not unknown, "webhook.event_types", f"unknown event types: {', '.join(unknown[:5])}")
        check.check()
        webhook_id = id_for_request("webhook", caller.subject, request_id) if request_id else new_id()
        return await self._webhooks.create(
            Webhook(
                id=webhook_id,
                owner_id=caller.subject,
                url=url,
                event_types=tuple(unique),
                secret=secrets.token_urlsafe(32),
                create_time=utc_now(),
            )
        )

    async def _owned(self, caller: Principal, webhook_id: str) -> Webhook:
        webhook = await self._webhooks.get(webhook_id) if webhook_id else None
        if webhook is None or webhook.owner_id != caller.subject:
            raise NotFound(f"webhook {webhook_id!r} not found", reason="WEBHOOK_NOT_FOUND")
        return webhook

    async def list_webhooks(
        self, caller: Principal, page_size: int, page_token: str
    ) -> tuple[list[Webhook], str]:
        size = clamp_page_size(page_size, default=20, maximum=100)
        return await self._webhooks.page(caller.subject, size, page_token)

    async def delete(self, caller: Principal, webhook_id: str) -> None:
        await self._owned(caller, webhook_id)
        await self._webhooks.delete(webhook_id)

    async def deliveries(
        self, caller: Principal, webhook_id: str, page_size: int, page_token: str
    ) -> tuple[list[Delivery], str]:
        await self._owned(caller, webhook_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        return await self._deliveries.page(webhook_id, size, page_token)

    async def replay(self, caller: Principal, delivery_id: str) -> Delivery:
        delivery = await self._deliveries.get(delivery_id) if delivery_id else None
        if delivery is None or delivery.owner_id != caller.subject:
            raise NotFound(f"delivery {delivery_id!r} not found", reason="DELIVERY_NOT_FOUND")
        if delivery.state is DeliveryState.PENDING:
            raise FailedPrecondition("the delivery is still being attempted", reason="DELIVERY_PENDING")
        replayed = await self._deliveries.replay(delivery_id, utc_now())
        self._on_replay()
        return replayed


class WebhookFanout:
    """Queues one delivery per subscribed webhook for an event; idempotent by (webhook, event)."""

    def __init__(
        self, webhooks: WebhookStore, deliveries: DeliveryStore, render: Callable[[Envelope], str]
    ) -> None:
        self._webhooks = webhooks
        self._deliveries = deliveries
        self._render = render
        self.on_queued: Callable[[], None] = lambda: None

    async def on_event(self, envelope: Envelope) -> None:
        subscribed = await self._webhooks.subscribed(envelope.type)
        if not subscribed:
            return
        body = self._render(envelope)
        now = utc_now()
        for webhook in subscribed:
            await self._deliveries.enqueue(
                Delivery(
                    id=delivery_id(webhook.id, envelope.id),
                    webhook_id=webhook.id,
                    owner_id=webhook.owner_id,
                    event_id=envelope.id,
                    event_type=envelope.type,
                    body=body,
                    state=DeliveryState.PENDING,
                    create_time=now,
                    next_attempt_time=now,
                )
            )
        self.on_queued()


class WebhookDelivery(SweepingWorker):
    """A worker: woken when deliveries are queued, sweeping for retries that fall due.

    Each attempt runs on its own, within one deadline; a sweep starts attempts and does not wait for them.
    At most ``concurrency`` attempts are in flight, at most ``per_endpoint`` for any one webhook: a webhook
    at its bound is left out of the sweep, so a slow endpoint's queue waits for that endpoint alone. A
    delivery is claimed before its attempt (its next attempt time moves past the deadline), so replicas do
    not attempt the same delivery at once, and one whose attempt never ends falls due again."""

    def __init__(
        self,
        webhooks: WebhookStore,
        deliveries: DeliveryStore,
        poster: HttpPoster,
        *,
        max_attempts: int,
        retry_base_seconds: float,
        retry_max_seconds: float,
        sweep_seconds: float = 5.0,
        deadline_seconds: float = 5.0,
        concurrency: int = 64,
        per_endpoint: int = 2,
    ) -> None:
        super().__init__(sweep_seconds=sweep_seconds)
        self._webhooks = webhooks
        self._deliveries = deliveries
        self._poster = poster
        self._max_attempts = max_attempts
        self._base = retry_base_seconds
        self._cap = retry_max_seconds
        # A claim outlasts the attempt's deadline, with room for recording it.
        self._lease = timedelta(seconds=2 * deadline_seconds + 5)
        self._concurrency = max(1, concurrency)
        self._per_endpoint = max(1, per_endpoint)
        self._in_flight: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _saturated(self) -> list[str]:
        return [w for w, n in self._in_flight.items() if n >= self._per_endpoint]

    async def sweep(self) -> bool:
        free = self._concurrency - len(self._tasks)
        if free <= 0:
            return False
        now = utc_now()
        for delivery in await self._deliveries.due(now, free, self._saturated()):
            if len(self._tasks) >= self._concurrency:
                break
            if self._in_flight.get(delivery.webhook_id, 0) >= self._per_endpoint:
                continue
            if not await self._deliveries.claim(delivery, now, now + self._lease):
                continue
            self._start(delivery)
        return False

    def _start(self, delivery: Delivery) -> None:
        webhook_id = delivery.webhook_id
        self._in_flight[webhook_id] = self._in_flight.get(webhook_id, 0) + 1
        task = asyncio.create_task(self._attempt_in_flight(delivery), name=f"webhook {delivery.id}")
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            left = self._in_flight.get(webhook_id, 1) - 1
            if left > 0:
                self._in_flight[webhook_id] = left
            else:
                self._in_flight.pop(webhook_id, None)
            self.wake()  # its endpoint has room again: the next of its queue may start

        task.add_done_callback(done)

    async def _attempt_in_flight(self, delivery: Delivery) -> None:
        try:
            await self.attempt(delivery)
        except Exception as exc:  # the claim lapses and the delivery falls due again
            log.warning("webhook attempt not recorded", delivery_id=delivery.id, error=repr(exc))

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def seconds_until_due(self) -> float | None:
        if len(self._tasks) >= self._concurrency:
            return None  # woken when an attempt ends
        upcoming = await self._deliveries.next_due(self._saturated())
        return None if upcoming is None else (upcoming - utc_now()).total_seconds()

    async def attempt(self, delivery: Delivery) -> None:
        number = len(delivery.attempts) + 1
        round_attempts = delivery.round_attempts + 1
        webhook = await self._webhooks.get(delivery.webhook_id)
        started = time.perf_counter()
        status, error = 0, ""
        if webhook is None:
            error = "webhook deleted"
        else:
            body = delivery.body.encode()
            timestamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                ID_HEADER: delivery.id,
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: signature(webhook.secret, timestamp, body),
            }
            try:
                status = await self._poster.post(webhook.url, body, headers)
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except Exception as exc:
                error = repr(exc)
        now = utc_now()
        attempt = Attempt(
            attempt=number,
            at=now,
            status_code=status,
            error=error[:500],
            duration_ms=int((time.perf_counter() - started) * 1000),
        )
        next_time = now
        if attempt.ok:
            state = DeliveryState.DELIVERED
        elif webhook is None or round_attempts >= self._max_attempts:
            state = DeliveryState.DEAD
            log.error("webhook delivery dead-lettered", delivery_id=delivery.id, attempts=number, error=error)
        else:
            state = DeliveryState.PENDING
            next_time = now + timedelta(seconds=retry_delay(round_attempts, self._base, self._cap))
        log.info("webhook attempt", delivery_id=delivery.id, attempt=number, status=status, state=state.value)
        await self._deliveries.record(delivery.id, attempt, state, next_time, round_attempts)

"""An ephemeral ordered subscription of this process to the ``points_changed`` events of every replica."""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from guild_common.events.consumer import PermanentError
from guild_common.events.envelope import Envelope
from guild_common.events.streams import stream_name
from guild_reputation.app.boards_handlers import PointsFollower
from guild_reputation.entrypoints.event_decoders import POINTS_CHANGED as POINTS_CHANGED_DECODER

log = structlog.get_logger("guild.reputation.points_stream")
POINTS_CHANGED = "guild.reputation.points_changed.v1"
ATTEMPTS = 3


class PointsStream:
    """Follows the stream from ``since`` (the start of this process's rebuild, less a margin): events the
    rebuild already covered are re-applied harmlessly, and none between rebuild and subscription is lost."""

    def __init__(
        self,
        js: JetStreamContext,
        follower: PointsFollower,
        *,
        since: datetime,
        region: str,
        programme: str,
        check_seconds: float = 2.0,
    ) -> None:
        self._js = js
        self._follower = follower
        self._since = since
        self._subject = f"guild.{region}.{programme}.reputation.points_changed"
        self._check_seconds = check_seconds
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def _subscribe(self, after_sequence: int) -> JetStreamContext.PushSubscription:
        if after_sequence:
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after_sequence + 1
            )
        else:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=self._since)
        return await self._js.subscribe(
            self._subject, stream=stream_name("reputation"), ordered_consumer=True, config=config
        )

    async def _subscribe_until_ready(self, after_sequence: int) -> JetStreamContext.PushSubscription | None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                return await self._subscribe(after_sequence)
            except Exception as exc:
                log.warning("cannot follow points yet", error=repr(exc))
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, 10.0)
        return None

    @staticmethod
    async def _alive(subscription: JetStreamContext.PushSubscription) -> bool:
        try:
            await subscription.consumer_info()
        except Exception:
            return False
        return True

    async def run(self) -> None:
        subscription = await self._subscribe_until_ready(0)
        if subscription is None:
            return
        last_sequence = 0
        idle = 0.0
        try:
            while not self._stopping.is_set():
                try:
                    message = await subscription.next_msg(timeout=0.5)
                except (TimeoutError, NatsTimeoutError):
                    idle += 0.5
                    if idle >= self._check_seconds:
                        idle = 0.0
                        if not await self._alive(subscription):
                            # The ephemeral consumer is gone (NATS restarted): follow on where we were.
                            log.warning("points subscription lost; resubscribing", after=last_sequence)
                            await _quietly_unsubscribe(subscription)
                            renewed = await self._subscribe_until_ready(last_sequence)
                            if renewed is None:
                                return
                            subscription = renewed
                    continue
                idle = 0.0
                if message.metadata is not None:
                    last_sequence = message.metadata.sequence.stream
                await self._apply(message.subject, message.headers, message.data)
        finally:
            await _quietly_unsubscribe(subscription)

    async def _apply(self, subject: str, headers: dict[str, str] | None, data: bytes) -> None:
        try:
            envelope = Envelope.from_message(subject, headers, data)
        except ValueError as exc:
            log.warning("points event skipped", error=str(exc))
            return
        if envelope.type != POINTS_CHANGED:
            return
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await self._follower.points_changed(POINTS_CHANGED_DECODER.decode(envelope))
                return
            except PermanentError as exc:
                log.warning("points event skipped", error=str(exc))
                return
            except Exception as exc:
                if attempt == ATTEMPTS:
                    # The board keeps this member's previous points until their next entry or a restart.
                    log.error("points event not applied", error=repr(exc), entry=envelope.subject)
                    return
                await asyncio.sleep(0.2 * attempt)


async def _quietly_unsubscribe(subscription: JetStreamContext.PushSubscription) -> None:
    try:
        await subscription.unsubscribe()
    except Exception as exc:
        log.debug("unsubscribe failed", error=repr(exc))

"""Sends queued emails; an SMTP server that is down delays delivery with backoff but loses nothing."""

from __future__ import annotations

from datetime import timedelta

import structlog

from guild_common.clock import utc_now
from guild_common.sweeper import SweepingWorker
from guild_notify.app.metrics import count_sent
from guild_notify.app.ports import EmailOutbox, Mailer

log = structlog.get_logger("guild.notify.email")


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff after ``attempts`` failed attempts: base, 2*base, 4*base, ... up to ``cap``."""
    return float(min(cap, base * 2 ** max(attempts - 1, 0)))


class EmailDelivery(SweepingWorker):
    """A worker: woken when an email is queued, and sweeping for retries that fall due."""

    def __init__(
        self,
        outbox: EmailOutbox,
        mailer: Mailer,
        *,
        retry_base_seconds: float,
        retry_max_seconds: float,
        sweep_seconds: float = 5.0,
        batch_size: int = 50,
    ) -> None:
        super().__init__(sweep_seconds=sweep_seconds)
        self._outbox = outbox
        self._mailer = mailer
        self._base = retry_base_seconds
        self._cap = retry_max_seconds
        self._batch = batch_size

    async def sweep(self) -> bool:
        return not await self.deliver_due()

    async def seconds_until_due(self) -> float | None:
        upcoming = await self._outbox.next_due()
        return None if upcoming is None else (upcoming - utc_now()).total_seconds()

    async def deliver_due(self) -> bool:
        """Attempt every due email once; True when fewer than a batch were due."""
        due = await self._outbox.due(utc_now(), self._batch)
        for email, attempts in due:
            if self.stopping:
                return True
            try:
                await self._mailer.send(email)
            except Exception as exc:
                delay = retry_delay(attempts + 1, self._base, self._cap)
                log.warning(
                    "email not sent; will retry",
                    email_id=email.id,
                    attempt=attempts + 1,
                    retry_in_s=delay,
                    error=repr(exc),
                )
                await self._outbox.failed(
                    email.id, attempts + 1, utc_now() + timedelta(seconds=delay), repr(exc)
                )
            else:
                await self._outbox.sent(email.id, attempts + 1, utc_now())
                count_sent("email")
                log.info("email sent", email_id=email.id, attempt=attempts + 1)
        return len(due) < self._batch

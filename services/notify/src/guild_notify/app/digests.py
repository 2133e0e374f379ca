"""Daily and weekly digests: one email per member and period with what is new in their communities.

A run is idempotent per member and period (the email's id is derived from both, and the email queue
refuses a second one), so a run that stops midway is simply run again; a period is marked done only
after every member was considered.
"""

from __future__ import annotations

import asyncio
from typing import Protocol
from urllib.parse import urlencode

import structlog

from guild_common.clock import utc_now
from guild_notify.app.ports import (
    ContentFeed,
    DigestRuns,
    EmailQueue,
    Memberships,
    OutgoingEmail,
    PreferencesStore,
)
from guild_notify.app.unsubscribe import DIGEST, UnsubscribeTokens
from guild_notify.domain.digests import (
    Period,
    digest_email_id,
    last_complete_period,
    render_digest,
)
from guild_notify.domain.preferences import DigestFrequency

log = structlog.get_logger("guild.notify.digests")
MAX_ITEMS = 50


class DigestPreferences(PreferencesStore, Protocol):
    async def digest_subscribers(self, frequency: DigestFrequency) -> list[str]:
        """Members who chose this frequency and gave an email address."""
        ...


class DigestRunner:
    def __init__(
        self,
        members: Memberships,
        preferences: DigestPreferences,
        feed: ContentFeed,
        runs: DigestRuns,
        emails: EmailQueue,
        tokens: UnsubscribeTokens,
        unsubscribe_base_url: str,
    ) -> None:
        self._members = members
        self._preferences = preferences
        self._feed = feed
        self._runs = runs
        self._emails = emails
        self._tokens = tokens
        self._unsubscribe_base_url = unsubscribe_base_url

    async def run(self, period: Period) -> int:
        """Queue the period's digests not queued yet; how many were queued by this run."""
        if await self._runs.done(period):
            return 0
        queued = 0
        for member_id in await self._preferences.digest_subscribers(period.frequency):
            if await self._digest(period, member_id):
                queued += 1
        await self._runs.mark_done(period, queued)
        log.info("digest run", frequency=period.frequency.value, period=period.key, queued=queued)
        return queued

    async def _digest(self, period: Period, member_id: str) -> bool:
        prefs = await self._preferences.get(member_id)
        if prefs.digest_frequency is not period.frequency or not prefs.email_address:
            return False
        communities = [
            m.community_id
            for m in await self._members.of_member(member_id)
            if m.community_id not in prefs.muted_community_ids
        ]
        if not communities:
            return False
        items = await self._feed.in_period(communities, period.start, period.end, MAX_ITEMS)
        if not items:
            return False
        token = self._tokens.issue(member_id, DIGEST)
        body = render_digest(period, items, f"{self._unsubscribe_base_url}?{urlencode({'token': token})}")
        return await self._emails.enqueue(
            OutgoingEmail(
                id=digest_email_id(period, member_id),
                to=prefs.email_address,
                subject=body.subject,
                text=body.text,
                html=body.html,
                create_time=utc_now(),
            )
        )


class DigestScheduler:
    """A worker: runs the last complete day's and week's digests once each is due."""

    def __init__(self, runner: DigestRunner, check_seconds: float = 60.0) -> None:
        self._runner = runner
        self._check = check_seconds
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            for frequency in (DigestFrequency.DAILY, DigestFrequency.WEEKLY):
                try:
                    await self._runner.run(last_complete_period(frequency, utc_now()))
                except Exception as exc:  # the database is down: the next check runs it again
                    log.warning("digest run failed", frequency=frequency.value, error=repr(exc))
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self._check)
            except TimeoutError:
                pass

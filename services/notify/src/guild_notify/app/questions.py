"""A community's champions are nudged about questions still unanswered after a configured time (the
nudges are scheduled and cancelled by ``questions_handlers``)."""

from __future__ import annotations

import structlog

from guild_common.clock import utc_now
from guild_common.sweeper import SweepingWorker
from guild_notify.app.notifier import Notifier
from guild_notify.app.ports import Memberships, NudgeStore
from guild_notify.domain.questions import (
    CHAMPION_ROLES,
    unanswered_nudges,
)

log = structlog.get_logger("guild.notify.questions")

# Champions nudged per question; more than this many in one community is a misconfiguration.
MAX_CHAMPIONS = 200


class UnansweredNudges(SweepingWorker):
    """Sends due nudges to the community's champions, once per question and champion: notifications
    are keyed by question and recipient, so a sweep repeated after a crash adds nothing."""

    def __init__(
        self,
        nudges: NudgeStore,
        memberships: Memberships,
        notifier: Notifier,
        *,
        sweep_seconds: float,
        batch_size: int = 50,
    ) -> None:
        super().__init__(sweep_seconds=sweep_seconds)
        self._nudges = nudges
        self._memberships = memberships
        self._notifier = notifier
        self._batch = batch_size

    async def sweep(self) -> bool:
        due = await self._nudges.due(utc_now(), self._batch)
        for nudge in due:
            if self.stopping:
                return False
            if not await self._nudges.still_pending(nudge.question_id):
                continue  # answered since it was read
            champions = await self._memberships.with_roles(nudge.community_id, CHAMPION_ROLES, MAX_CHAMPIONS)
            notified = 0
            for notification in unanswered_nudges(nudge, champions, utc_now()):
                if notified and not await self._nudges.still_pending(nudge.question_id):
                    break  # answered (or removed) while the champions were being told
                await self._notifier.deliver(notification)
                notified += 1
            await self._nudges.sent(nudge.question_id, utc_now())
            log.info("unanswered nudge sent", question_id=nudge.question_id, champions=notified)
        return len(due) == self._batch

    async def seconds_until_due(self) -> float | None:
        upcoming = await self._nudges.next_due()
        return None if upcoming is None else (upcoming - utc_now()).total_seconds()

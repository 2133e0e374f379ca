"""This replica's boards kept current from every replica's ledger entries."""

from __future__ import annotations

from guild_reputation.app.boards import LiveBoards
from guild_reputation.app.ports import Ledger
from guild_reputation.domain.integration_events import PointsChanged


class PointsFollower:
    """Keeps this replica's boards current from every replica's ``points_changed`` events.

    The event carries one entry; the stored totals it touched are read back (they include the entry,
    which is released only after they are written, and stored totals only grow in entries), so
    applying is absolute, idempotent and, events being handled one at a time, never goes backwards.
    """

    def __init__(self, ledger: Ledger, live: LiveBoards) -> None:
        self._ledger = ledger
        self._live = live

    async def points_changed(self, e: PointsChanged) -> None:
        if self._live.applied(e.entry_id):
            return
        await self._live.refresh(self._ledger, e.community_id, e.member_id, e.time, e.entry_id)

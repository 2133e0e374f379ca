"""The in-memory boards of this process: current periods only, fed by totals."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime

from guild_common.clock import utc_now
from guild_common.doclocks import document_lock
from guild_reputation.app.ports import Ledger, Total
from guild_reputation.domain.leaderboard import Leaderboards
from guild_reputation.domain.periods import Calendar, Periods

# Lock namespace serialising board updates per member within the process.
LIVE_BOARDS = "live_boards"


class LiveBoards:
    """Applies totals to the boards of the current periods and remembers recently applied entries."""

    def __init__(
        self,
        boards: Leaderboards,
        calendar: Calendar,
        *,
        clock: Callable[[], datetime] = utc_now,
        remember: int = 100_000,
    ) -> None:
        self.boards = boards
        self.calendar = calendar
        self._clock = clock
        self._remember = remember
        self._applied: OrderedDict[str, None] = OrderedDict()
        self._periods: set[str] = set()

    def current(self) -> Periods:
        periods = self.calendar.periods(self._clock())
        keys = set(periods.names())
        if keys != self._periods:
            self._periods = keys
            self.boards.retain(keys)
        return periods

    def apply(self, totals: Iterable[Total], entry_id: str = "") -> None:
        keys = set(self.current().names())
        for total in totals:
            if total.period in keys:
                self.boards.board(total.community_id, total.period).set(total.member_id, total.points)
        if entry_id:
            self._applied[entry_id] = None
            if len(self._applied) > self._remember:
                self._applied.popitem(last=False)

    def applied(self, entry_id: str) -> bool:
        return entry_id in self._applied

    async def refresh(
        self, ledger: Ledger, community_id: str, member_id: str, moment: datetime, entry_id: str
    ) -> None:
        """Apply the member's stored totals touched by an entry at ``moment``.

        Stored totals only ever grow in entries, and reading and applying happen under one lock per
        member, so a later application never puts older totals over newer ones.
        """
        async with document_lock(LIVE_BOARDS, member_id):
            self.apply(await ledger.stored_totals(community_id, member_id, moment), entry_id)


async def rebuild_boards(ledger: Ledger, live: LiveBoards, *, batch: int = 50_000) -> int:
    """Load every stored total of the current periods into the boards; returns how many."""
    count = 0
    periods = set(live.current().names())
    pending: dict[tuple[str, str], list[tuple[str, int]]] = {}

    def flush() -> None:
        for (community_id, period), items in pending.items():
            live.boards.board(community_id, period).load(items)
        pending.clear()

    async for total in ledger.totals(periods):
        pending.setdefault((total.community_id, total.period), []).append((total.member_id, total.points))
        count += 1
        if count % batch == 0:
            flush()
    flush()
    return count

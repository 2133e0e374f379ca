"""The in-memory boards of this process: current periods only, fed by totals."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from guild_common.clock import utc_now
from guild_reputation.app.ports import BoardChunk, BoardSnapshots, Ledger, SnapshotHead, Total
from guild_reputation.domain.leaderboard import Leaderboards
from guild_reputation.domain.periods import ALL_TIME, GLOBAL, Calendar, Periods
from guild_reputation.domain.visible_boards import VisibleBoards

log = structlog.get_logger("guild.reputation.boards")


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
        self.visible = VisibleBoards(boards)
        self.calendar = calendar
        self._clock = clock
        self._remember = remember
        self._applied: OrderedDict[str, None] = OrderedDict()
        self._periods: set[str] = set()
        # Per member, the entries in the global all-time total of the newest totals applied.
        self._marks: dict[str, int] = {}

    def current(self) -> Periods:
        periods = self.calendar.periods(self._clock())
        keys = set(periods.names())
        if keys != self._periods:
            self._periods = keys
            self.boards.retain(keys)
            self.visible.retain(keys)
        return periods

    def apply(self, totals: Iterable[Total], entry_id: str = "") -> None:
        keys = set(self.current().names())
        touched: set[tuple[str, str]] = set()
        for total in totals:
            if total.period in keys:
                self.boards.board(total.community_id, total.period).set(total.member_id, total.points)
                if self.visible.concerns(total.community_id):
                    touched.add((total.member_id, total.period))
        for member_id, period in touched:
            self.visible.touched(member_id, period)
        if entry_id:
            self._applied[entry_id] = None
            if len(self._applied) > self._remember:
                self._applied.popitem(last=False)

    def applied(self, entry_id: str) -> bool:
        return entry_id in self._applied

    async def refresh(
        self, ledger: Ledger, community_id: str, member_id: str, moment: datetime, entry_id: str
    ) -> None:
        """Apply the member's stored totals touched by an entry at ``moment``, unless totals read later
        were applied already.

        The member's global all-time total counts every entry of theirs and only grows, so its
        ``entries`` orders the reads: a read that finishes after a newer one (two handlers, or a handler
        and the follower, at once) is dropped rather than put over it. No lock: nothing awaits between
        the check and the apply.
        """
        totals = await ledger.stored_totals(community_id, member_id, moment)
        mark = max(
            (t.entries for t in totals if t.community_id == GLOBAL and t.period == ALL_TIME), default=0
        )
        if mark < self._marks.get(member_id, 0):
            return
        self._marks[member_id] = mark
        self.apply(totals, entry_id)


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
    live.visible.reset()
    return count


@dataclass(frozen=True)
class Restored:
    """How the boards were built at start: from a snapshot (its pairs and the totals changed since it)
    or, without one, from every stored total."""

    snapshot_id: str
    from_snapshot: int
    from_totals: int


async def restore_boards(
    ledger: Ledger,
    snapshots: BoardSnapshots,
    live: LiveBoards,
    *,
    margin: timedelta = timedelta(minutes=5),
    batch: int = 50_000,
) -> Restored:
    """Load the newest snapshot of the current periods' boards, then the totals written since it.

    Totals written from ``margin`` before the snapshot on are applied over it (absolute points, so
    applying one the snapshot already held changes nothing): the margin covers totals written just
    before the snapshot but not yet on the boards it was taken from, and clocks a little apart.
    Without a snapshot every stored total is read.
    """
    head = await snapshots.latest()
    if head is None:
        return Restored("", 0, await rebuild_boards(ledger, live, batch=batch))
    periods = set(live.current().names())
    from_snapshot = 0
    async for chunk in snapshots.chunks(head.snapshot_id):
        if chunk.period in periods:
            live.boards.board(chunk.community_id, chunk.period).load(
                list(zip(chunk.member_ids, chunk.points, strict=True))
            )
            from_snapshot += len(chunk.member_ids)
    changed = 0
    pending: dict[tuple[str, str], list[tuple[str, int]]] = {}

    def flush() -> None:
        for (community_id, period), items in pending.items():
            live.boards.board(community_id, period).load(items)
        pending.clear()

    async for total in ledger.totals_changed_since(periods, head.as_of - margin):
        pending.setdefault((total.community_id, total.period), []).append((total.member_id, total.points))
        changed += 1
        if changed % batch == 0:
            flush()
    flush()
    live.visible.reset()
    return Restored(head.snapshot_id, from_snapshot, changed)


def snapshot_of(live: LiveBoards, chunk: int) -> tuple[list[BoardChunk], int]:
    """The current periods' boards as chunks of at most ``chunk`` pairs, and how many pairs in all.

    Taken without awaiting, so each board is copied as it is at one moment."""
    periods = set(live.current().names())
    chunks: list[BoardChunk] = []
    members = 0
    for community_id, period in live.boards.board_keys():
        if period not in periods:
            continue
        board = live.boards.find(community_id, period)
        items = board.items() if board is not None else []
        members += len(items)
        for start in range(0, len(items), chunk):
            part = items[start : start + chunk]
            chunks.append(BoardChunk(community_id, period, [m for m, _ in part], [p for _, p in part]))
    return chunks, members


class BoardSnapshotter:
    """Writes a snapshot of this replica's boards every ``interval`` (skipped when another replica wrote
    one in the last half interval) and once more when stopped, then prunes what is left of the totals
    journal of earlier versions."""

    def __init__(
        self,
        live: LiveBoards,
        snapshots: BoardSnapshots,
        ledger: Ledger,
        *,
        interval: timedelta,
        margin: timedelta = timedelta(minutes=5),
        chunk: int = 20_000,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``margin`` must be the one ``restore_boards`` uses: the journal is kept from that long
        before the oldest snapshot kept."""
        self._ledger = ledger
        self._margin = margin
        self._live = live
        self._snapshots = snapshots
        self._interval = interval
        self._chunk = chunk
        self._clock = clock
        self._stopping = asyncio.Event()

    async def write(self) -> SnapshotHead:
        as_of = self._clock()
        chunks, members = snapshot_of(self._live, self._chunk)
        head = SnapshotHead(f"{as_of.strftime('%Y%m%dT%H%M%S.%f')}-{uuid.uuid4().hex[:8]}", as_of, members)
        oldest = await self._snapshots.write(head, chunks)
        pruned = await self._ledger.prune_journal(oldest - self._margin)
        log.info(
            "boards snapshot written",
            snapshot_id=head.snapshot_id,
            members=members,
            chunks=len(chunks),
            journal_pruned=pruned,
        )
        return head

    async def _due(self) -> bool:
        latest = await self._snapshots.latest()
        return latest is None or latest.as_of <= self._clock() - self._interval / 2

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval.total_seconds())
            except TimeoutError:
                pass
            try:
                if self._stopping.is_set() or await self._due():
                    await self.write()
            except Exception:
                log.exception("boards snapshot failed")

    def stop(self) -> None:
        self._stopping.set()

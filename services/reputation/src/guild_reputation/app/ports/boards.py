"""The boards snapshots' port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class SnapshotHead:
    """A complete snapshot of the boards: what they held at ``as_of``."""

    snapshot_id: str
    as_of: datetime
    members: int


@dataclass(frozen=True)
class BoardChunk:
    """Part of one board in a snapshot: (member, points) pairs as two parallel lists."""

    community_id: str
    period: str
    member_ids: list[str]
    points: list[int]


class BoardSnapshots(Protocol):
    async def latest(self) -> SnapshotHead | None:
        """The newest complete snapshot."""
        ...

    def chunks(self, snapshot_id: str) -> AsyncIterator[BoardChunk]: ...

    async def write(self, head: SnapshotHead, chunks: Sequence[BoardChunk]) -> datetime:
        """Store the chunks, then the head that makes them visible; drop all but the newest snapshots.
        Returns the time of the oldest snapshot kept."""
        ...

    async def discard(self) -> None:
        """Drop every snapshot (the totals changed in a way no snapshot shows)."""
        ...

"""In-memory leaderboards as order-statistic structures: rank in O(log n)."""

from __future__ import annotations

from dataclasses import dataclass

from sortedcontainers import SortedKeyList


@dataclass(frozen=True)
class Standing:
    member_id: str
    points: int
    rank: int


def _order(item: tuple[str, int]) -> tuple[int, str]:
    member_id, points = item
    return (-points, member_id)


class Leaderboard:
    """One board. Higher points rank first; ties are ordered by member id."""

    def __init__(self) -> None:
        self._points: dict[str, int] = {}
        self._ranked: SortedKeyList = SortedKeyList(key=_order)

    def __len__(self) -> int:
        return len(self._points)

    def set(self, member_id: str, points: int) -> None:
        previous = self._points.get(member_id)
        if previous == points:
            return
        if previous is not None:
            self._ranked.remove((member_id, previous))
        self._points[member_id] = points
        self._ranked.add((member_id, points))

    def remove(self, member_id: str) -> None:
        points = self._points.pop(member_id, None)
        if points is not None:
            self._ranked.remove((member_id, points))

    def points(self, member_id: str) -> int | None:
        """The member's points, or None when not on the board."""
        return self._points.get(member_id)

    def members(self) -> list[str]:
        return list(self._points)

    def load(self, items: list[tuple[str, int]]) -> None:
        """Set many members at once (sorted in one pass; later items win)."""
        fresh = {m: p for m, p in items if m not in self._points}
        for member_id, points in items:
            if member_id not in fresh:
                self.set(member_id, points)
        self._points.update(fresh)
        self._ranked.update(fresh.items())

    def standing(self, member_id: str) -> Standing | None:
        points = self._points.get(member_id)
        if points is None:
            return None
        return Standing(member_id, points, self._ranked.index((member_id, points)) + 1)

    def at(self, rank: int) -> Standing | None:
        """The standing at a 1-based rank, or None beyond the board."""
        if rank < 1 or rank > len(self._ranked):
            return None
        member_id, points = self._ranked[rank - 1]
        return Standing(member_id, points, rank)

    def neighbours(self, standing: Standing) -> tuple[Standing | None, Standing | None]:
        """The members ranked just above and just below."""
        return self.at(standing.rank - 1), self.at(standing.rank + 1)

    def percentile(self, standing: Standing) -> float:
        """Share of the board at or below this standing, in percent."""
        total = len(self._ranked)
        return 100.0 * (total - standing.rank + 1) / total if total and standing.rank else 0.0

    def items(self) -> list[tuple[str, int]]:
        """Every (member, points), best first: a copy, taken at once."""
        return list(self._ranked)

    def top(self, n: int) -> list[Standing]:
        return [
            Standing(member_id, points, rank)
            for rank, (member_id, points) in enumerate(self._ranked.islice(0, n), start=1)
        ]


BoardKey = tuple[str, str]
"""(community id or ``*`` for all communities, period key)."""


class Leaderboards:
    """All boards of this process, by community (or ``*``) and period."""

    def __init__(self) -> None:
        self._boards: dict[BoardKey, Leaderboard] = {}

    def board(self, community_id: str, period: str = "all") -> Leaderboard:
        key = (community_id, period)
        board = self._boards.get(key)
        if board is None:
            board = self._boards[key] = Leaderboard()
        return board

    def find(self, community_id: str, period: str = "all") -> Leaderboard | None:
        return self._boards.get((community_id, period))

    def board_keys(self) -> list[BoardKey]:
        return list(self._boards)

    def retain(self, periods: set[str]) -> None:
        """Drop boards of periods that are over."""
        for key in [k for k in self._boards if k[1] not in periods]:
            del self._boards[key]

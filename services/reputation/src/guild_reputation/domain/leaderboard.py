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

    def standing(self, member_id: str) -> Standing | None:
        points = self._points.get(member_id)
        if points is None:
            return None
        return Standing(member_id, points, self._ranked.index((member_id, points)) + 1)

    def top(self, n: int) -> list[Standing]:
        return [
            Standing(member_id, points, rank)
            for rank, (member_id, points) in enumerate(self._ranked.islice(0, n), start=1)
        ]


class Leaderboards:
    """All boards of this process, by community."""

    def __init__(self) -> None:
        self._boards: dict[str, Leaderboard] = {}

    def board(self, community_id: str) -> Leaderboard:
        board = self._boards.get(community_id)
        if board is None:
            board = self._boards[community_id] = Leaderboard()
        return board

    def find(self, community_id: str) -> Leaderboard | None:
        return self._boards.get(community_id)

"""The all-communities boards as served: points earned in hidden communities left out.

Derived in memory from the boards this process keeps: a member's points on the served board of a
period are their all-communities points less their points on each hidden community's board of that
period. A member whose points all come from hidden communities is not on it. Built for a period on first
read, then kept member by member as totals are applied or communities are hidden or shown again.
"""

from __future__ import annotations

from guild_reputation.domain.leaderboard import Leaderboard, Leaderboards
from guild_reputation.domain.periods import GLOBAL


class VisibleBoards:
    def __init__(self, boards: Leaderboards) -> None:
        self._boards = boards
        self._hidden: frozenset[str] = frozenset()
        self._derived: dict[str, Leaderboard] = {}

    @property
    def hidden(self) -> frozenset[str]:
        return self._hidden

    def board(self, period: str) -> Leaderboard | None:
        """The served all-communities board of a period, or None when nobody has points in it."""
        everyone = self._boards.find(GLOBAL, period)
        if everyone is None:
            return None
        derived = self._derived.get(period)
        if derived is None:
            derived = self._derived[period] = Leaderboard()
            derived.load([(m, p) for m in everyone.members() if (p := self._visible(m, period)) is not None])
        return derived

    def hide(self, hidden: frozenset[str]) -> None:
        """Take ``hidden`` as the hidden communities; recount the members of those that changed."""
        changed = hidden ^ self._hidden
        self._hidden = hidden
        for period in list(self._derived):
            for community_id in changed:
                board = self._boards.find(community_id, period)
                for member_id in board.members() if board is not None else []:
                    self.touched(member_id, period)

    def concerns(self, community_id: str) -> bool:
        """Whether a total of this community changes the served boards."""
        return community_id == GLOBAL or community_id in self._hidden

    def touched(self, member_id: str, period: str) -> None:
        """Recount one member on one period's served board (if it is built)."""
        derived = self._derived.get(period)
        if derived is None:
            return
        points = self._visible(member_id, period)
        if points is None:
            derived.remove(member_id)
        else:
            derived.set(member_id, points)

    def retain(self, periods: set[str]) -> None:
        for period in [p for p in self._derived if p not in periods]:
            del self._derived[period]

    def reset(self) -> None:
        """Forget every derived board (after the boards were loaded in bulk)."""
        self._derived.clear()

    def _visible(self, member_id: str, period: str) -> int | None:
        everyone = self._boards.find(GLOBAL, period)
        points = everyone.points(member_id) if everyone is not None else None
        if points is None:
            return None
        in_hidden = False
        for community_id in self._hidden:
            board = self._boards.find(community_id, period)
            held = board.points(member_id) if board is not None else None
            if held is not None:
                points -= held
                in_hidden = True
        return None if in_hidden and points == 0 else points

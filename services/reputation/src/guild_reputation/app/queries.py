"""Leaderboard queries, served from memory."""

from __future__ import annotations

from dataclasses import dataclass

from guild_common.auth import Principal
from guild_common.errors import Validator
from guild_reputation.domain.leaderboard import Leaderboards, Standing

TOP_DEFAULT = 10
TOP_MAX = 100


@dataclass(frozen=True)
class BoardView:
    standings: list[Standing]
    total_members: int


class LeaderboardQueries:
    def __init__(self, boards: Leaderboards) -> None:
        self._boards = boards

    def top(self, caller: Principal, community_id: str, n: int) -> BoardView:
        check = Validator()
        check.require(bool(community_id), "community_id", "must not be empty")
        check.require(0 <= n <= TOP_MAX, "top", f"between 0 and {TOP_MAX}")
        check.check()
        board = self._boards.find(community_id)
        if board is None:
            return BoardView([], 0)
        return BoardView(board.top(n or TOP_DEFAULT), len(board))

    def standing(self, caller: Principal, community_id: str, member_id: str) -> tuple[Standing, int]:
        """The member's standing; a member without points stands unranked (rank 0) with 0 points."""
        check = Validator()
        check.require(bool(community_id), "community_id", "must not be empty")
        check.check()
        member = member_id or caller.subject
        board = self._boards.find(community_id)
        standing = board.standing(member) if board else None
        return standing or Standing(member, 0, 0), len(board) if board else 0

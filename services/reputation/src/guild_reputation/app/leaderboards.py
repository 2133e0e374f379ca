"""Leaderboard queries, served from memory."""

from __future__ import annotations

from dataclasses import dataclass

from guild_common.auth import Principal
from guild_common.errors import Validator
from guild_common.pagination import Page, clamp_page_size, decode_token, encode_token
from guild_common.tags import normalise_tag
from guild_reputation.app.access import CommunityReaders
from guild_reputation.app.boards import LiveBoards
from guild_reputation.app.ports import Ledger
from guild_reputation.app.visibility import Visibility
from guild_reputation.domain.leaderboard import Leaderboard, Standing
from guild_reputation.domain.periods import PeriodKind

TOP_DEFAULT = 10
TOP_MAX = 100
TAG_PAGE_DEFAULT = 20
TAG_PAGE_MAX = 100


@dataclass(frozen=True)
class BoardView:
    standings: list[Standing]
    total_members: int


@dataclass(frozen=True)
class StandingView:
    standing: Standing
    total_members: int
    percentile: float = 0.0
    above: Standing | None = None
    below: Standing | None = None


class LeaderboardQueries:
    """Boards and standings. A community's board to those who may see it (``visibility``); the
    all-communities board without the points earned in hidden communities, the same for every caller."""

    def __init__(self, live: LiveBoards, visibility: Visibility) -> None:
        self._live = live
        self._visibility = visibility

    async def _board(
        self, caller: Principal, community_id: str, all_communities: bool, period: PeriodKind
    ) -> Leaderboard | None:
        check = Validator()
        check.require(all_communities or bool(community_id), "community_id", "must not be empty")
        check.check()
        key = self._live.current().key(period)
        if all_communities:
            self._live.visible.hide(await self._visibility.hidden())
            return self._live.visible.board(key)
        await self._visibility.require_unhidden(caller, community_id)
        return self._live.boards.find(community_id, key)

    async def top(
        self,
        caller: Principal,
        community_id: str,
        n: int,
        *,
        period: PeriodKind = PeriodKind.ALL_TIME,
        all_communities: bool = False,
    ) -> BoardView:
        check = Validator()
        check.require(0 <= n <= TOP_MAX, "top", f"between 0 and {TOP_MAX}")
        check.check()
        board = await self._board(caller, community_id, all_communities, period)
        if board is None:
            return BoardView([], 0)
        return BoardView(board.top(n or TOP_DEFAULT), len(board))

    async def standing(
        self,
        caller: Principal,
        community_id: str,
        member_id: str,
        *,
        period: PeriodKind = PeriodKind.ALL_TIME,
        all_communities: bool = False,
    ) -> StandingView:
        """The member's standing; a member without points stands unranked (rank 0) with 0 points."""
        board = await self._board(caller, community_id, all_communities, period)
        member = member_id or caller.subject
        standing = board.standing(member) if board else None
        if board is None or standing is None:
            return StandingView(Standing(member, 0, 0), len(board) if board else 0)
        above, below = board.neighbours(standing)
        return StandingView(standing, len(board), board.percentile(standing), above, below)


class TagQueries:
    """Points by tag, served from the per (community, tag, member) totals the ledger keeps."""

    def __init__(self, ledger: Ledger, readers: CommunityReaders) -> None:
        self._ledger = ledger
        self._readers = readers

    async def top(
        self, caller: Principal, community_id: str, tag: str, page_size: int, page_token: str
    ) -> Page[Standing]:
        tag = normalise_tag(tag)
        check = Validator()
        check.require(bool(community_id), "community_id", "must not be empty")
        check.require(bool(tag), "tag", "must not be empty")
        check.check()
        await self._readers.check(caller, community_id)
        size = clamp_page_size(page_size, TAG_PAGE_DEFAULT, TAG_PAGE_MAX)
        position = decode_token(page_token)
        ranked = int(position.get("n", 0)) if isinstance(position.get("n", 0), int) else 0
        inner = str(position.get("k", ""))
        totals = await self._ledger.top_by_tag(community_id, tag, size, inner)
        standings = [Standing(t.member_id, t.points, ranked + i + 1) for i, t in enumerate(totals.items)]
        next_inner = totals.next_token
        token = encode_token({"k": next_inner, "n": ranked + len(totals.items)}) if next_inner else ""
        return Page(standings, token)

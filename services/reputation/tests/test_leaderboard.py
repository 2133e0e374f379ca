"""The in-memory leaderboard."""

from __future__ import annotations

import random

from guild_reputation.domain.leaderboard import Leaderboard, Standing


def test_ranks_by_points_then_member_id() -> None:
    board = Leaderboard()
    for member, points in [("cat", 5), ("ann", 20), ("bob", 5), ("dan", 0)]:
        board.set(member, points)
    assert board.top(10) == [
        Standing("ann", 20, 1),
        Standing("bob", 5, 2),
        Standing("cat", 5, 3),
        Standing("dan", 0, 4),
    ]
    assert board.standing("cat") == Standing("cat", 5, 3)
    assert board.standing("nobody") is None
    assert len(board) == 4


def test_updates_move_members_and_keep_one_place_each() -> None:
    board = Leaderboard()
    board.set("ann", 10)
    board.set("bob", 5)
    board.set("bob", 15)
    board.set("bob", 15)
    assert board.top(1) == [Standing("bob", 15, 1)]
    assert board.standing("ann") == Standing("ann", 10, 2)
    assert len(board) == 2


def test_rank_agrees_with_a_full_sort() -> None:
    rng = random.Random(7)
    board = Leaderboard()
    points = {}
    for _ in range(2000):
        member = f"m{rng.randrange(300)}"
        points[member] = rng.randrange(-50, 500)
        board.set(member, points[member])
    expected = sorted(points.items(), key=lambda kv: (-kv[1], kv[0]))
    for rank, (member, value) in enumerate(expected, start=1):
        assert board.standing(member) == Standing(member, value, rank)


def test_loading_in_bulk_agrees_with_setting_one_by_one() -> None:
    rng = random.Random(3)
    items = [(f"m{rng.randrange(500)}", rng.randrange(-20, 300)) for _ in range(3000)]
    one_by_one, bulk = Leaderboard(), Leaderboard()
    for member, points in items:
        one_by_one.set(member, points)
    bulk.set("m1", 999)
    bulk.load(items[:1500])
    bulk.load(items[1500:])
    assert bulk.top(1000) == one_by_one.top(1000)
    assert len(bulk) == len(one_by_one)

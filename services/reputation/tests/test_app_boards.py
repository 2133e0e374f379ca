"""The in-memory boards on in-memory ports: rebuilt from the ledger's totals at start, restored from a
snapshot and the totals written since, and kept current by every replica's entries."""

from __future__ import annotations

from datetime import timedelta

from services.reputation.tests import memory
from services.reputation.tests.app_world import C1, C2, World, meta, who
from services.reputation.tests.memory import T0

from guild_reputation.app.boards import BoardSnapshotter, LiveBoards, rebuild_boards, restore_boards
from guild_reputation.app.boards_handlers import PointsFollower
from guild_reputation.app.leaderboards import LeaderboardQueries
from guild_reputation.domain import integration_events as ev
from guild_reputation.domain.leaderboard import Leaderboards, Standing
from guild_reputation.domain.periods import ALL_TIME, GLOBAL, Calendar


def contents(live: LiveBoards) -> dict[tuple[str, str], list[tuple[str, int]]]:
    found = {}
    for key in live.boards.board_keys():
        board = live.boards.find(*key)
        if board is not None and len(board):
            found[key] = board.items()
    return found


def standing(live: LiveBoards, community_id: str, member_id: str) -> Standing | None:
    board = live.boards.find(community_id, ALL_TIME)
    return board.standing(member_id) if board is not None else None


def fresh(world: World) -> LiveBoards:
    return LiveBoards(Leaderboards(), Calendar(), clock=world.clock)


async def test_boards_rebuilt_from_stored_totals_are_the_boards_the_events_built() -> None:
    world = World()
    for i in range(6):
        await world.ask(f"q{i}", f"m{i % 3}")
    await world.vote("m0", 0, 1, target="q1", author="m1", kind="question")
    await world.ask("q9", "m0", C2, time=T0 - timedelta(days=60))  # an earlier month: all-time only
    restarted = fresh(world)
    count = await rebuild_boards(world.ledger, restarted)
    assert contents(restarted) == contents(world.live)
    assert count == len(list(await _all_totals(world)))
    assert standing(restarted, C1, "m1") == Standing("m1", 14, 1)


async def _all_totals(world: World) -> list[object]:
    periods = world.live.current().names()
    return [t async for t in world.ledger.totals(periods)]


async def test_a_snapshot_and_the_totals_since_give_the_boards_the_totals_give() -> None:
    world = World()
    snapshots = memory.MemoryBoardSnapshots()
    for i in range(6):
        await world.ask(f"q{i}", f"m{i % 3}")
    await world.vote("m0", 0, 1, target="q1", author="m1", kind="question")
    writer = BoardSnapshotter(
        world.live,
        snapshots,
        world.ledger,
        interval=timedelta(minutes=10),
        margin=timedelta(0),
        chunk=2,
        clock=world.clock,
    )
    world.clock.advance(timedelta(seconds=1))
    head = await writer.write()
    world.clock.advance(timedelta(seconds=1))
    # Since the snapshot: more points for some, new members, another community, and a removal.
    await world.ask("q9", "m0")
    await world.ask("q10", "new", C2)
    await world.vote("m2", 0, 1, target="q10", author="new", kind="question", community=C2)
    await world.handle(ev.PostRemoved(meta(), "q1", C1, "m1", True))
    restored = fresh(world)
    report = await restore_boards(world.ledger, snapshots, restored, margin=timedelta(0))
    rebuilt = fresh(world)
    every_total = await rebuild_boards(world.ledger, rebuilt)
    assert contents(restored) == contents(rebuilt) == contents(world.live)
    assert (C2, ALL_TIME) in contents(restored)
    assert report.snapshot_id == head.snapshot_id
    assert report.from_snapshot == head.members > 0
    assert 0 < report.from_totals < every_total  # only what changed since was read
    sizes = [len(c.member_ids) async for c in snapshots.chunks(head.snapshot_id)]
    assert sum(sizes) == head.members
    assert max(sizes) == 2


async def test_without_a_snapshot_every_total_is_read() -> None:
    world = World()
    await world.ask("q1", "ann")
    restored = fresh(world)
    report = await restore_boards(world.ledger, memory.MemoryBoardSnapshots(), restored)
    assert (report.snapshot_id, report.from_snapshot, report.from_totals) == ("", 0, 6)
    assert contents(restored) == contents(world.live)


async def test_the_all_communities_board_of_a_rebuilt_replica_leaves_hidden_ones_out() -> None:
    world = World()
    await world.create_community(C1, "hidden")
    await world.ask("q1", "ann", C1)
    await world.ask("q2", "bob", C2)
    restarted = fresh(world)
    await rebuild_boards(world.ledger, restarted)
    everywhere = await LeaderboardQueries(restarted, world.visibility).top(
        who("x"), "", 10, all_communities=True
    )
    assert [(s.member_id, s.points) for s in everywhere.standings] == [("bob", 2)]


async def test_replicas_follow_each_others_entries_once_and_never_go_back() -> None:
    world = World()
    replica = fresh(world)
    follower = PointsFollower(world.ledger, replica)
    await world.ask("q1", "ann", event_id="e1")
    await world.ask("q2", "ann", event_id="e2")
    first = ev.PointsChanged(meta(), "e1:question_asked", C1, "ann", T0)
    second = ev.PointsChanged(meta(), "e2:question_asked", C1, "ann", T0)
    await follower.points_changed(second)
    await follower.points_changed(first)  # late: the totals read are the same newest ones
    await follower.points_changed(second)
    assert contents(replica) == contents(world.live)
    assert standing(replica, GLOBAL, "ann") == Standing("ann", 4, 1)
    assert replica.applied("e1:question_asked")
    assert replica.applied("e2:question_asked")

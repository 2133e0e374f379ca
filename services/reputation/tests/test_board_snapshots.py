"""Boards restored at start from a snapshot and the totals written since equal boards built from totals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient
from services.reputation.tests.support import C1, C2, Producer, answer_vote, question_asked, standing_of

from guild.events.v1 import content_events_pb2 as events
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.clock import utc_now
from guild_common.mongo import Document, ensure_indexes
from guild_common.settings import ServiceSettings
from guild_reputation.adapters import board_snapshots_store, ledger_store
from guild_reputation.adapters.board_snapshots_store import MongoBoardSnapshots, slice_of
from guild_reputation.adapters.ledger_store import MongoLedger
from guild_reputation.app.boards import BoardSnapshotter, LiveBoards, rebuild_boards, restore_boards
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_reputation.domain.leaderboard import Leaderboards
from guild_reputation.domain.periods import GLOBAL, Calendar
from guild_reputation.domain.rules import LedgerEntry, Rule
from guild_testing.fixtures import Infra, auth, database_name
from guild_testing.inprocess import running_service


def _contents(live: LiveBoards) -> dict[tuple[str, str], list[tuple[str, int]]]:
    found = {}
    for key in live.boards.board_keys():
        board = live.boards.find(*key)
        if board is not None and len(board):
            found[key] = board.items()
    return found


async def test_a_snapshot_and_the_totals_since_give_the_boards_the_totals_give(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    # Snapshots are taken here by hand; the service's own come only at its stop.
    settings = settings_for(ReputationSettings, leaderboard_snapshot_minutes=600)
    async with running_service(settings, build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        db = service.app.infra.db
        for i in range(6):
            await producer.emit("question_asked", question_asked(f"q{i}", f"m{i % 3}"))
        await producer.emit("vote_changed", answer_vote("m0", 0, 1, target="q1", author="m1"))
        await standing_of(stub, "m1", expect=14)
        ledger = MongoLedger(db, on_events=lambda *_: None, calendar=Calendar())
        snapshots = MongoBoardSnapshots(db)
        memory = LiveBoards(Leaderboards(), Calendar())
        await rebuild_boards(ledger, memory)
        writer = BoardSnapshotter(
            memory, snapshots, ledger, interval=timedelta(minutes=10), margin=timedelta(0), chunk=2
        )
        head = await writer.write()
        # Since the snapshot: more points for some, new members, another community, and a removal.
        await producer.emit("question_asked", question_asked("q9", "m0"))
        await producer.emit("question_asked", question_asked("q10", "new", community=C2))
        await producer.emit("vote_changed", answer_vote("m2", 0, 1, target="q10", author="new"))
        await producer.emit(
            "post_removed",
            events.PostRemoved(
                post_id="q1",
                kind="question",
                community_id=C1,
                author_id="m1",
                removed_by="mod",
                by_moderator=True,
            ),
        )
        await standing_of(stub, "new", expect=2, community=C2)
        await standing_of(stub, "new", expect=10)
        await standing_of(stub, "m1", expect=2)

        restored = LiveBoards(Leaderboards(), Calendar())
        report = await restore_boards(ledger, snapshots, restored, margin=timedelta(0))
        rebuilt = LiveBoards(Leaderboards(), Calendar())
        every_total = await rebuild_boards(ledger, rebuilt)
        assert _contents(restored) == _contents(rebuilt)
        assert (C2, "all") in _contents(restored)
        assert report.snapshot_id == head.snapshot_id
        assert report.from_snapshot == head.members > 0
        assert 0 < report.from_totals < every_total  # only what changed since was read
        # Chunks hold at most two pairs; only the two newest snapshots are kept. Totals written since
        # carry the time.
        assert await db.totals.count_documents({"updated": {"$gte": head.as_of}}) > 0
        assert await db.board_snapshot_chunks.count_documents({"snapshot_id": head.snapshot_id}) >= 6
        second = await writer.write()
        third = await writer.write()
        heads = sorted(d["_id"] for d in await db.board_snapshots.find({}).to_list())
        assert heads == sorted([second.snapshot_id, third.snapshot_id])
        assert await db.board_snapshot_chunks.count_documents({"snapshot_id": head.snapshot_id}) == 0


async def test_a_replica_writes_a_snapshot_when_stopped_and_the_next_one_starts_from_it(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    settings = settings_for(ReputationSettings)
    async with running_service(settings, build) as first:
        stub = api_grpc.ReputationServiceStub(first.channel)
        for i in range(3):
            await producer.emit("question_asked", question_asked(f"q{i}", "ann"))
        await producer.emit("question_asked", question_asked("q9", "bob"))
        await standing_of(stub, "ann", expect=6)
        await standing_of(stub, "bob", expect=2)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_uri)
    db = client[settings.database_name]
    head = await db.board_snapshots.find_one({})
    assert head is not None
    assert head["members"] > 0
    # A member only the snapshot knows shows that the next replica loaded it rather than every total.
    chunk = await db.board_snapshot_chunks.find_one(
        {"snapshot_id": head["_id"], "community_id": C1, "period": "all"}
    )
    assert chunk is not None
    await db.board_snapshot_chunks.update_one(
        {"_id": chunk["_id"]},
        {"$set": {"member_ids": [*chunk["member_ids"], "ghost"], "points": [*chunk["points"], 1]}},
    )
    async with running_service(settings, build) as second:
        stub = api_grpc.ReputationServiceStub(second.channel)
        top = await stub.GetLeaderboard(api.GetLeaderboardRequest(community_id=C1), metadata=auth("x"))
        assert [(s.member_id, s.points) for s in top.standings] == [("ann", 6), ("bob", 2), ("ghost", 1)]
        await producer.emit("question_asked", question_asked("q10", "bob"))
        assert (await standing_of(stub, "bob", expect=4)).standing.rank == 2
    await client.close()


async def test_deployments_of_two_slices_sharing_a_database_each_restore_their_own_snapshot(
    infra: Infra,
) -> None:
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    db = client[database_name("two_slices_snapshots")]
    await client.drop_database(db.name)
    try:
        await ensure_indexes(db, [*board_snapshots_store.INDEXES, *ledger_store.INDEXES])
        ledger = MongoLedger(db, on_events=lambda *_: None, calendar=Calendar())
        # Written before slices were recorded: nobody restores it, and the next write drops it.
        await db.board_snapshots.insert_one({"_id": "old", "as_of": utc_now(), "members": 1, "chunks": 0})
        clock = [utc_now() - timedelta(hours=1)]

        def tick() -> datetime:
            clock[0] += timedelta(seconds=1)
            return clock[0]

        def deployment(region: str, member: str) -> tuple[MongoBoardSnapshots, BoardSnapshotter]:
            snapshots = MongoBoardSnapshots(db, slice_of(region, "*"))
            live = LiveBoards(Leaderboards(), Calendar())
            live.boards.board(C1, "all").set(member, 5)
            writer = BoardSnapshotter(
                live, snapshots, ledger, interval=timedelta(minutes=10), margin=timedelta(0), clock=tick
            )
            return snapshots, writer

        emea, emea_writer = deployment("emea", "ann")
        amer, amer_writer = deployment("amer", "bob")
        assert await emea.latest() is None
        amer_head = await amer_writer.write()
        # Written after the older slice's snapshot: what that slice's next start reads.
        entry = LedgerEntry.for_event(
            event_id="e1",
            rule=Rule.QUESTION_ASKED,
            community_id=C1,
            member_id="bob",
            amount=2,
            target_id="q1",
            time=utc_now(),
        )
        await ledger.record(entry, region="amer", programme="sales")
        clock[0] = utc_now()
        for _ in range(3):  # the newer slice prunes only its own snapshots
            emea_head = await emea_writer.write()
        assert await db.board_snapshots.find_one({"_id": "old"}) is None
        for snapshots, head, member in ((emea, emea_head, "ann"), (amer, amer_head, "bob")):
            restored = LiveBoards(Leaderboards(), Calendar())
            report = await restore_boards(ledger, snapshots, restored, margin=timedelta(0))
            assert report.snapshot_id == head.snapshot_id
            expected = {(C1, "all"): [(member, 5)]}
            if member == "bob":  # and the totals written since its snapshot
                expected = {(C1, "all"): [("bob", 2)], (GLOBAL, "all"): [("bob", 2)]}
            assert {k: v for k, v in _contents(restored).items() if k[1] == "all"} == expected
        assert await db.board_snapshots.count_documents({}) == 3
        assert await db.board_snapshot_chunks.count_documents({"snapshot_id": amer_head.snapshot_id}) == 1
    finally:
        await client.drop_database(db.name)
        await client.close()

"""The inbox's counters stay exact when two replicas store and read the same member's notifications.

Each replica is its own client and its own :class:`MongoInbox`, as two processes would be: nothing in
one process can serialise them, so only atomic updates in the store keep the counts right.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from guild_common.clock import utc_now
from guild_common.mongo import Document, ensure_indexes
from guild_notify.adapters.inbox_store import SCHEMA, SEQUENCE_INDEXES, MongoInbox
from guild_notify.domain.notifications import Notification, new_answer
from guild_testing.fixtures import Infra, database_name
from guild_testing.store_commands import StoreCommands


@dataclass
class Replicas:
    first: MongoInbox
    second: MongoInbox
    commands: StoreCommands


@pytest_asyncio.fixture
async def replicas(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[Replicas]:
    commands = StoreCommands()
    clients: list[AsyncMongoClient[Document]] = [
        AsyncMongoClient(infra.mongo_uri, tz_aware=True, event_listeners=[commands]),
        AsyncMongoClient(infra.mongo_uri, tz_aware=True),
    ]
    name = database_name(request.node.name)
    await clients[1].drop_database(name)
    dbs = [c[name] for c in clients]
    await ensure_indexes(dbs[1], [*SCHEMA.indexes, *SEQUENCE_INDEXES])
    try:
        yield Replicas(MongoInbox(dbs[0]), MongoInbox(dbs[1]), commands)
    finally:
        for client in clients:
            await client.close()


def _answers(count: int, *, questions: int = 3, prefix: str = "e") -> list[Notification]:
    notes = []
    for i in range(count):
        note = new_answer(
            event_id=f"{prefix}{i}",
            question_id=f"q{i % questions}",
            question_title="t",
            question_author="ann",
            answer_author=f"p{i}",
            community_id="c1",
            time=utc_now(),
        )
        assert note is not None
        notes.append(note)
    return notes


async def test_two_replicas_storing_one_members_notifications_number_and_count_each_once(
    replicas: Replicas,
) -> None:
    notes = _answers(30)
    # Every notification delivered to both replicas (a redelivery racing the first delivery).
    results = await asyncio.gather(
        *(inbox.add(n) for n in notes for inbox in (replicas.first, replicas.second))
    )
    stored = [r for r in results if r is not None]
    assert sorted(r.sequence for r in stored) == list(range(1, 31))
    assert await replicas.second.unread_count("ann") == 30
    groups, _ = await replicas.first.groups("ann", False, 10, "")
    assert sorted((g.total_count, g.unread_count) for g in groups) == [(10, 10)] * 3
    # Each group shows its notification with the highest sequence, whatever order they arrived in.
    latest = {n.group_key: n for n in sorted(stored, key=lambda n: n.sequence)}
    assert {g.key: g.latest_actor_id for g in groups} == {k: n.actor_id for k, n in latest.items()}


async def test_marking_read_on_two_replicas_at_once_decrements_once(replicas: Replicas) -> None:
    notes = _answers(24)
    for n in notes:
        await replicas.first.add(n)
    ids = [n.id for n in notes[:12]]
    # The same ids marked on both replicas, and everything marked on both, all at once.
    marked = await asyncio.gather(
        replicas.first.mark_read("ann", ids),
        replicas.second.mark_read("ann", ids),
        replicas.first.mark_read("ann", ids[:6]),
        replicas.second.mark_all_read("ann"),
        replicas.first.mark_all_read("ann"),
    )
    assert sum(marked) == 24
    assert await replicas.first.unread_count("ann") == 0
    groups, _ = await replicas.second.groups("ann", False, 10, "")
    assert [(g.total_count, g.unread_count) for g in groups] == [(8, 0)] * 3
    assert await replicas.first.mark_read("ann", ids) == 0
    assert await replicas.first.unread_count("ann") == 0


async def test_storing_a_notification_reads_no_other_notification(replicas: Replicas) -> None:
    for n in _answers(20):
        await replicas.first.add(n)
    replicas.commands.clear()
    (note,) = _answers(1, prefix="new")
    assert await replicas.first.add(note) is not None
    # insert, take the sequence (and count it unread), count it in its group, make it visible
    assert replicas.commands.names == ["insert", "findAndModify", "update", "update"]
    replicas.commands.clear()
    assert await replicas.first.add(note) is None
    assert replicas.commands.names == ["insert"]
    replicas.commands.clear()
    assert await replicas.first.unread_count("ann") == 21
    assert replicas.commands.names == ["find"]


async def test_a_notification_a_crashed_writer_left_unnumbered_is_numbered_once_at_start(
    replicas: Replicas, infra: Infra, request: pytest.FixtureRequest
) -> None:
    first, second, crashed = _answers(3)
    await replicas.first.add(first)
    # The writer stored it and crashed before numbering it: invisible, and not counted.
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    try:
        doc = {**MongoInbox.document(crashed), "stored_at": utc_now() - timedelta(minutes=5)}
        await client[database_name(request.node.name)]["notifications"].insert_one(doc)
    finally:
        await client.close()
    assert await replicas.first.owned("ann", [crashed.id]) == set()
    assert await replicas.first.add(crashed) is None  # a redelivery finds it stored
    # Both replicas restart at once, while new notifications arrive.
    await asyncio.gather(replicas.first.migrate(), replicas.second.migrate(), replicas.second.add(second))
    assert await replicas.first.owned("ann", [crashed.id]) == {crashed.id}
    assert sorted(n.sequence for n in await replicas.first.after("ann", 0, 10)) == [1, 2, 3]
    assert await replicas.first.unread_count("ann") == 3

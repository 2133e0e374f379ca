"""The ledger's batch path: entries recorded together are inserted with one ``insert_many``, counted by one
merged update per counter document and released together, and still count once each, whatever the
duplicates within a batch, the crashes part-way, the different splits of a redelivery and the clients
recording overlapping batches at once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from guild_common.mongo import Document, ensure_indexes
from guild_reputation.adapters import ledger_documents, ledger_store
from guild_reputation.adapters.ledger_documents import COUNTERS, LEDGER, TOTALS, Counter, total_id
from guild_reputation.adapters.ledger_store import MongoLedger
from guild_reputation.domain.periods import ALL_TIME, Calendar
from guild_reputation.domain.rules import LedgerEntry, Rule
from guild_testing.fixtures import Infra, database_name
from guild_testing.store_commands import StoreCommands

C = "c-1"
MOMENT = datetime(2026, 3, 4, 10, tzinfo=UTC)
MEMBERS = ("bob", "cat", "dan")


class Crash(Exception):
    """A process dying part-way through a batch."""


class CrashingLedger(MongoLedger):
    """Counts the next batch into only the first few counters of each entry (or into all of them without
    releasing it), then dies."""

    crash_after: int | None = None
    crash_before_release = False

    async def count_many(self, entries: Sequence[tuple[str, Sequence[Counter]]]) -> None:
        if self.crash_after is None or not entries:
            return await super().count_many(entries)
        await super().count_many([(i, list(counters)[: self.crash_after]) for i, counters in entries])
        raise Crash(entries[0][0])

    async def release_many(self, entries: Sequence[Document]) -> None:
        if self.crash_before_release and entries:
            raise Crash(str(entries[0]["_id"]))
        await super().release_many(entries)


@pytest_asyncio.fixture
async def clients(
    infra: Infra, request: pytest.FixtureRequest
) -> AsyncIterator[list[tuple[AsyncDatabase[Document], StoreCommands]]]:
    name = database_name(request.node.name)
    made: list[tuple[AsyncMongoClient[Document], StoreCommands]] = []
    for _ in range(2):
        commands = StoreCommands()
        made.append((AsyncMongoClient(infra.mongo_uri, tz_aware=True, event_listeners=[commands]), commands))
    await made[0][0].drop_database(name)
    await ensure_indexes(made[0][0][name], ledger_store.INDEXES)
    yield [(client[name], commands) for client, commands in made]
    await made[0][0].drop_database(name)
    for client, _ in made:
        await client.close()


def _entry(
    n: int, member: str, *, amount: int = 5, actor: str = "", rule: Rule = Rule.ANSWER_POSTED
) -> LedgerEntry:
    return LedgerEntry.for_event(
        event_id=f"e{n}",
        rule=rule,
        community_id=C,
        member_id=member,
        amount=amount,
        target_id=f"a{n % 7}",
        time=MOMENT + timedelta(minutes=n),
        actor_id=actor,
        tags=("sql", "python") if n % 2 else ("sql",),
    )


def _docs(ledger: MongoLedger, entries: Sequence[LedgerEntry]) -> list[Document]:
    return [ledger.entry_doc(entry, "emea", "sales", None) for entry in entries]


async def _assert_counters_equal_the_ledger(ledger: MongoLedger, db: AsyncDatabase[Document]) -> None:
    members = await db[LEDGER].distinct("member_id")
    expected_counters = 0
    for member in members:
        recomputed = await ledger.recomputed(member)
        assert await ledger.stored_counters(recomputed) == recomputed, member
        expected_counters += sum(1 for key in recomputed if key[0] == COUNTERS)
    assert await db[COUNTERS].count_documents({}) == expected_counters
    assert await db[LEDGER].count_documents({"released": False}) == 0


async def _released(db: AsyncDatabase[Document], woken: list[tuple[str, str]]) -> list[str]:
    """The entries of the releases the relay was woken for (each release holds their events)."""
    entries: list[str] = []
    for collection, release_id in woken:
        release = await db[collection].find_one({"_id": release_id})
        assert release is not None
        assert len(release["outbox"]) == len(release["entries"])
        entries.extend(release["entries"])
    return entries


async def _points(db: AsyncDatabase[Document], member: str) -> int:
    doc = await db[TOTALS].find_one({"_id": total_id(C, ALL_TIME, member)})
    return int(doc["points"]) if doc else 0


async def test_a_batch_with_the_same_entry_twice_counts_it_once(
    clients: list[tuple[AsyncDatabase[Document], StoreCommands]],
) -> None:
    db, commands = clients[0]
    woken: list[tuple[str, str]] = []
    ledger = MongoLedger(db, on_events=lambda c, i: woken.append((c, i)), calendar=Calendar())
    entries = [_entry(n, MEMBERS[n % 3], actor=f"v{n}") for n in range(24)]
    # The first batch creates the members' totals and tag totals (zero, then counted).
    assert await ledger.record_many(_docs(ledger, entries[:12])) == [None] * 12
    batch = _docs(ledger, [*entries[12:], entries[15], entries[17], entries[15]])
    commands.clear()
    assert await ledger.record_many(batch) == [None] * len(batch)
    # One insert, one update command per counter collection, the release: its events, then the
    # entries marked.
    assert dict(commands.sent) == {"insert": 2, "update": 4}
    assert sorted(await _released(db, woken)) == sorted(e.id for e in entries)
    for member in MEMBERS:
        assert await _points(db, member) == 5 * sum(1 for e in entries if e.member_id == member)
    await _assert_counters_equal_the_ledger(ledger, db)
    # The same batch again changes nothing: the insert says the entries are released.
    commands.clear()
    assert await ledger.record_many(_docs(ledger, entries)) == [None] * len(entries)
    assert dict(commands.sent) == {"insert": 1, "find": 1}
    await _assert_counters_equal_the_ledger(ledger, db)


async def test_concurrent_records_are_written_as_one_batch(
    clients: list[tuple[AsyncDatabase[Document], StoreCommands]],
) -> None:
    db, commands = clients[0]
    ledger = MongoLedger(db, on_events=lambda *_: None, calendar=Calendar())
    entries = [_entry(n, MEMBERS[n % 3]) for n in range(40)]
    await asyncio.gather(*(ledger.record(e, region="emea", programme="sales") for e in entries[:10]))
    commands.clear()
    await asyncio.gather(*(ledger.record(e, region="emea", programme="sales") for e in entries[10:]))
    assert dict(commands.sent) == {"insert": 2, "update": 4}
    await _assert_counters_equal_the_ledger(ledger, db)


@pytest.mark.parametrize("crash", ["after_insert", "counted_in_part", "counted_not_released"])
async def test_a_batch_redelivered_split_otherwise_after_a_crash_counts_each_entry_once(
    clients: list[tuple[AsyncDatabase[Document], StoreCommands]], crash: str
) -> None:
    db, _ = clients[0]
    woken: list[tuple[str, str]] = []
    ledger = CrashingLedger(db, on_events=lambda c, i: woken.append((c, i)), calendar=Calendar())
    entries = [_entry(n, MEMBERS[n % 3], actor=f"v{n % 4}") for n in range(16)]
    first = entries[:10]
    if crash == "after_insert":
        for entry in first[:6]:
            await ledger.append(entry, region="emea", programme="sales")
    else:
        ledger.crash_after = 4 if crash == "counted_in_part" else None
        ledger.crash_before_release = crash == "counted_not_released"
        with pytest.raises(Crash):
            await ledger.record_many(_docs(ledger, first))
        ledger.crash_after, ledger.crash_before_release = None, False
    assert not await _released(db, woken)
    # Redelivered in other batches, out of order, with later entries and repeats mixed in.
    rng = random.Random(7)
    again = [*entries, *rng.sample(first, 4)]
    rng.shuffle(again)
    for start in range(0, len(again), 5):
        assert await ledger.record_many(_docs(ledger, again[start : start + 5])) == [None] * len(
            again[start : start + 5]
        )
    assert sorted(await _released(db, woken)) == sorted(e.id for e in entries)
    await _assert_counters_equal_the_ledger(ledger, db)


async def test_entries_some_counters_hold_already_are_counted_once_with_the_others(
    clients: list[tuple[AsyncDatabase[Document], StoreCommands]],
) -> None:
    """A merged update refused because its counter holds one of its entries leaves the batch's other
    counters counted, and the entries it does not hold are counted one by one."""
    db, _ = clients[0]
    ledger = MongoLedger(db, on_events=lambda *_: None, calendar=Calendar())
    entries = [_entry(n, "bob", actor=f"v{n}") for n in range(8)]
    for entry in entries[:3]:
        stored, _ = await ledger.append(entry, region="emea", programme="sales")
        for counter in ledger_documents.counters_of(stored)[::2]:  # every other counter
            await ledger.apply(entry.id, counter)
    assert await ledger.record_many(_docs(ledger, entries)) == [None] * len(entries)
    assert await _points(db, "bob") == 5 * len(entries)
    await _assert_counters_equal_the_ledger(ledger, db)


async def test_two_clients_recording_overlapping_batches_at_once_count_each_entry_once(
    clients: list[tuple[AsyncDatabase[Document], StoreCommands]],
) -> None:
    ledgers = [MongoLedger(db, on_events=lambda *_: None, calendar=Calendar()) for db, _ in clients]
    db = clients[0][0]
    rng = random.Random(11)
    entries = [_entry(n, MEMBERS[n % 3], actor=f"v{n % 5}") for n in range(60)]
    for round_ in range(4):
        part = entries[round_ * 15 : round_ * 15 + 15]
        # Each client gets most of this round's entries (the same event delivered to both replicas),
        # in its own order and split into its own batches.
        batches: list[list[list[LedgerEntry]]] = []
        for _ in ledgers:
            mine = [e for e in part if rng.random() < 0.8] + rng.sample(part, 3)
            rng.shuffle(mine)
            size = rng.randint(2, 8)
            batches.append([mine[i : i + size] for i in range(0, len(mine), size)])

        async def run(ledger: MongoLedger, mine: list[list[LedgerEntry]]) -> None:
            for batch in mine:
                assert await ledger.record_many(_docs(ledger, batch)) == [None] * len(batch)

        await asyncio.gather(*(run(ledger, mine) for ledger, mine in zip(ledgers, batches, strict=True)))
        # Whatever neither got is delivered again to one of them.
        await ledgers[0].record_many(_docs(ledgers[0], part))
    for member in MEMBERS:
        assert await _points(db, member) == 5 * sum(1 for e in entries if e.member_id == member)
    await _assert_counters_equal_the_ledger(ledgers[0], db)


async def test_a_batch_in_a_later_hour_empties_the_slot_of_an_older_one_and_still_counts_once(
    clients: list[tuple[AsyncDatabase[Document], StoreCommands]],
) -> None:
    db, _ = clients[0]
    now = [datetime(2026, 3, 4, 10, 5, tzinfo=UTC)]
    ledger = MongoLedger(db, on_events=lambda *_: None, calendar=Calendar(), clock=lambda: now[0])
    entries = [_entry(n, MEMBERS[n % 3], actor=f"v{n}") for n in range(12)]
    await ledger.record_many(_docs(ledger, entries[:6]))
    now[0] += timedelta(hours=2)  # the same slot, two hours on: it holds an older hour's ids
    await ledger.record_many(_docs(ledger, entries[6:]))
    await ledger.record_many(_docs(ledger, entries))  # all of them again, released: nothing changes
    total = await db[TOTALS].find_one({"_id": total_id(C, ALL_TIME, "bob")})
    assert total is not None
    assert sorted(total["seen"]["a"]) == sorted(e.id for e in entries[6:] if e.member_id == "bob")
    await _assert_counters_equal_the_ledger(ledger, db)

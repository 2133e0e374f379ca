"""The ledger's counters: counted once per entry whatever the deliveries, crashes and reversals, equal to
a recomputation from the ledger, and built once for entries recorded before them; likewise the badges'
fact sets.

Over 400 lines: the crash and replay scenarios share one crashing ledger and one model of the world,
which read best beside the scenarios that use them."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from guild.events.v1 import content_events_pb2 as events
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.inbound import bind
from guild_common.mongo import Document, ensure_indexes
from guild_reputation.adapters import ledger_documents, ledger_store
from guild_reputation.adapters.badges_store import BADGE_FACT_SETS, MongoBadges
from guild_reputation.adapters.ledger_documents import (
    COUNTERS,
    META,
    TAG_TOTALS,
    TOTALS,
    Counter,
    counters_of,
)
from guild_reputation.adapters.ledger_store import MongoLedger
from guild_reputation.adapters.points_rules_store import MongoPointsRules
from guild_reputation.adapters.post_tags_store import MongoPostTags
from guild_reputation.adapters.ratings_store import MongoRatings
from guild_reputation.app.boards import LiveBoards
from guild_reputation.app.ledger_handlers import ContentEventHandlers
from guild_reputation.domain.leaderboard import Leaderboards
from guild_reputation.domain.periods import Calendar
from guild_reputation.domain.rules import LedgerEntry, PointsTable, Rule
from guild_reputation.entrypoints.event_decoders import DECODERS
from guild_testing.fixtures import Infra, database_name

C = "c-1"


@pytest_asyncio.fixture
async def db(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[AsyncDatabase[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_uri)
    name = database_name(request.node.name)
    await client.drop_database(name)
    database = client[name]
    await ensure_indexes(database, ledger_store.INDEXES)
    yield database
    await client.drop_database(name)
    await client.close()


class Crash(Exception):
    """A process dying part-way through counting an entry."""


class CrashingLedger(MongoLedger):
    """Counts the next entries into only their first few counters (or into all of them, but does not
    release them), then dies, as a crash would."""

    crash_after: int | None = None
    crash_before_release = False

    async def release_many(self, entries: Sequence[Document]) -> None:
        if self.crash_before_release and entries:
            raise Crash(str(entries[0]["_id"]))
        await super().release_many(entries)

    async def count_many(self, entries: Sequence[tuple[str, Sequence[Counter]]]) -> None:
        if self.crash_after is None or not entries:
            return await super().count_many(entries)
        await super().count_many([(i, list(counters)[: self.crash_after]) for i, counters in entries])
        raise Crash(entries[0][0])


def _event(name: str, payload: Message) -> Envelope:
    return new_envelope(
        service="content", name=name, payload=payload, subject="s", region="emea", programme="sales"
    )


def _vote_on_a1(voter: str, previous: int, value: int) -> events.VoteChanged:
    return events.VoteChanged(
        target_kind="answer",
        target_id="a1",
        question_id="q1",
        community_id=C,
        voter_id=voter,
        target_author_id="bob",
        previous_value=previous,
        value=value,
    )


# For each handler whose checks read the counters: what comes before, and the event that crashes.
_HALF_DONE: dict[str, tuple[list[tuple[str, Message]], tuple[str, Message]]] = {
    "answer_unaccepted": (
        [
            (
                "answer_accepted",
                events.AnswerAccepted(
                    answer_id="a1",
                    question_id="q1",
                    community_id=C,
                    answer_author_id="bob",
                    question_author_id="ann",
                ),
            )
        ],
        (
            "answer_unaccepted",
            events.AnswerUnaccepted(answer_id="a1", community_id=C, answer_author_id="bob"),
        ),
    ),
    "vote_retracted": (
        [("vote_changed", _vote_on_a1("ann", 0, 1))],
        ("vote_changed", _vote_on_a1("ann", 1, 0)),
    ),
    "post_removed": (
        [("vote_changed", _vote_on_a1("ann", 0, 1))],
        (
            "post_removed",
            events.PostRemoved(post_id="a1", community_id=C, author_id="bob", by_moderator=True),
        ),
    ),
    "item_rated": (
        [],
        (
            "item_rated",
            events.ItemRated(item_id="a1", community_id=C, author_id="bob", rater_id="ann", stars=5),
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(_HALF_DONE))
async def test_an_entry_left_counted_but_unreleased_by_a_crash_is_finished_by_its_redelivered_event(
    db: AsyncDatabase[Document], case: str
) -> None:
    woken: list[tuple[str, str]] = []
    calendar = Calendar()
    ledger = CrashingLedger(
        db, on_events=lambda collection, doc_id: woken.append((collection, doc_id)), calendar=calendar
    )
    live = LiveBoards(Leaderboards(), calendar)
    handlers = bind(
        DECODERS,
        ContentEventHandlers(
            ledger, live, PointsTable(), MongoPointsRules(db), MongoPostTags(db), ratings=MongoRatings(db)
        ).handlers(),
    )
    post_tags = MongoPostTags(db)
    await post_tags.remember("q1", ["sql"])
    await post_tags.remember("a1", [], question_id="q1")
    before, (name, message) = _HALF_DONE[case]
    for earlier_name, earlier in before:
        earlier_event = _event(earlier_name, earlier)
        await handlers[earlier_event.type](earlier_event)
    envelope = _event(name, message)
    ledger.crash_before_release = True  # every counter written, the entry not released
    with pytest.raises(Crash):
        await handlers[envelope.type](envelope)
    ledger.crash_before_release = False
    entries = db[ledger_documents.LEDGER]
    (half_done,) = await entries.find({"source_event_id": envelope.id}).to_list()
    assert half_done["released"] is False
    assert half_done["_id"] not in await _handed_to_the_relay(db, woken)
    await handlers[envelope.type](envelope)  # redelivered
    assert await entries.count_documents({"source_event_id": envelope.id}) == 1
    finished = await entries.find_one({"_id": half_done["_id"]})
    assert finished is not None
    assert finished["released"] is True
    assert (await _handed_to_the_relay(db, woken)).count(half_done["_id"]) == 1
    total = await db[TOTALS].find_one({"_id": f"{C}:bob"})
    assert total is not None
    assert total["updated"] is not None
    stored = {
        t.period: t.points for t in await ledger.stored_totals(C, "bob", envelope.time) if t.community_id == C
    }
    expected = 0 if case != "item_rated" else PointsTable().effective({})[Rule.RESOURCE_RATED].points
    assert stored["all"] == expected
    board = live.boards.find(C, "all")
    assert board is not None
    standing = board.standing("bob")
    assert standing is not None
    assert standing.points == expected
    await _assert_counters_match_the_ledger(ledger, db)
    # Delivered once more, it changes nothing.
    await handlers[envelope.type](envelope)
    assert (await _handed_to_the_relay(db, woken)).count(half_done["_id"]) == 1
    await _assert_counters_match_the_ledger(ledger, db)


async def _handed_to_the_relay(db: AsyncDatabase[Document], woken: list[tuple[str, str]]) -> list[str]:
    """The entries whose ``points_changed`` events the ledger handed to the relay: those of each
    release it woke the relay for."""
    entries: list[str] = []
    for collection, doc_id in woken:
        assert collection == ledger_store.RELEASES
        release = await db[collection].find_one({"_id": doc_id})
        assert release is not None
        assert [Envelope.from_document(e).id for e in release["outbox"]] == [
            (await db[ledger_documents.LEDGER].find_one({"_id": i}) or {})["outbox"][0]["id"]
            for i in release["entries"]
        ]
        entries.extend(release["entries"])
    return entries


def _without_applied(docs: dict[tuple[str, str], Document]) -> dict[tuple[str, str], Document]:
    return {key: {k: v for k, v in doc.items() if k != "applied"} for key, doc in docs.items()}


async def _assert_counters_match_the_ledger(ledger: MongoLedger, db: AsyncDatabase[Document]) -> int:
    members = await db[ledger_documents.LEDGER].distinct("member_id")
    checked = 0
    for member in members:
        recomputed = await ledger.recomputed(member)
        stored = await ledger.stored_counters(recomputed)
        assert _without_applied(stored) == _without_applied(recomputed), member
        checked += len(recomputed)
    # And no counter the ledger does not give.
    expected = 0
    for member in members:
        expected += sum(1 for key in await ledger.recomputed(member) if key[0] == COUNTERS)
    assert await db[COUNTERS].count_documents({}) == expected
    return checked


def _entry(event: str, amount: int, *, rule: Rule = Rule.UPVOTE_RECEIVED, actor: str = "ann") -> LedgerEntry:
    return LedgerEntry.for_event(
        event_id=event,
        rule=rule,
        community_id=C,
        member_id="bob",
        amount=amount,
        target_id="a1",
        time=datetime(2026, 3, 4, 10, tzinfo=UTC),
        actor_id=actor,
        tags=("sql",),
    )


async def test_a_crash_between_the_ledger_and_the_counters_is_repaired_by_redelivery(
    db: AsyncDatabase[Document],
) -> None:
    released: list[int] = []
    ledger = MongoLedger(db, on_events=lambda *_: released.append(1), calendar=Calendar())
    # Crash right after the insert: nothing counted, nothing released.
    first = _entry("e1", 10)
    await ledger.append(first, region="emea", programme="sales")
    assert await ledger.net_for_target(C, "bob", "a1", [Rule.UPVOTE_RECEIVED]) == 0
    assert not released
    # The redelivery counts the entry as stored (the rules would now give 7: the first amount stands).
    await ledger.record(_entry("e1", 7), region="emea", programme="sales")
    assert await ledger.net_for_target(C, "bob", "a1", [Rule.UPVOTE_RECEIVED], actor_id="ann") == 10
    assert len(released) == 1
    # Crash part-way: some counters have the second entry, the others not.
    second = _entry("e2", 10, actor="cat")
    stored, inserted = await ledger.append(second, region="emea", programme="sales")
    assert inserted
    for counter in counters_of(stored)[:4]:
        assert await ledger.apply(second.id, counter)
    assert not await ledger.apply(second.id, counters_of(stored)[0])  # held already
    for _ in range(3):  # redelivered, and again after it was released
        await ledger.record(second, region="emea", programme="sales")
    assert len(released) == 2
    assert await _assert_counters_match_the_ledger(ledger, db) > 0
    totals = {(t.community_id, t.period): t.points for t in await ledger.stored_totals(C, "bob", first.time)}
    assert set(totals.values()) == {20}
    assert len(totals) == 6  # community and global; all time, week and month
    tag = await db[TAG_TOTALS].find_one({"_id": f"{C}|sql|bob"})
    assert tag is not None
    assert (tag["points"], tag["entries"]) == (20, 2)
    assert await ledger.earned_on(C, "bob", Rule.UPVOTE_RECEIVED, first.time) == 20
    assert await ledger.count_for_target(C, "bob", "a1", Rule.UPVOTE_RECEIVED) == 2
    assert await ledger.has_entry(C, "bob", "a1", Rule.UPVOTE_RECEIVED, "cat")
    assert not await ledger.has_entry(C, "bob", "a1", Rule.UPVOTE_RECEIVED, "cat", other_than=second.id)
    assert await ledger.tags_for_target(C, "bob", "a1") == ["sql"]


async def test_a_counter_holds_the_entries_of_this_hour_and_the_last_then_forgets_them(
    db: AsyncDatabase[Document],
) -> None:
    now = [datetime(2026, 3, 4, 10, 5, tzinfo=UTC)]
    ledger = MongoLedger(db, on_events=lambda *_: None, calendar=Calendar(), clock=lambda: now[0])
    for i in range(3):
        await ledger.record(_entry(f"e{i}", 1, actor=f"v{i}"), region="emea", programme="sales")
    total = next(c for c in counters_of(await _stored(db, "e0:upvote_received")) if c.id == f"{C}:bob")
    now[0] += timedelta(minutes=59)  # the next hour: this hour's and the last hour's ids are held
    await ledger.record(_entry("e3", 1, actor="v3"), region="emea", programme="sales")
    assert not await ledger.apply("e0:upvote_received", total)
    doc = await db[TOTALS].find_one({"_id": f"{C}:bob"})
    assert doc is not None
    assert (doc["points"], doc["entries"]) == (4, 4)
    assert sorted(doc["seen"]["a"] + doc["seen"]["b"]) == [f"e{i}:upvote_received" for i in range(4)]
    now[0] += timedelta(hours=1)  # two hours on: the oldest hour's ids give way to this hour's
    await ledger.record(_entry("e4", 1, actor="v4"), region="emea", programme="sales")
    doc = await db[TOTALS].find_one({"_id": f"{C}:bob"})
    assert doc is not None
    assert sorted(doc["seen"]["a"] + doc["seen"]["b"]) == ["e3:upvote_received", "e4:upvote_received"]
    assert (doc["points"], doc["entries"]) == (5, 5)


async def _stored(db: AsyncDatabase[Document], entry_id: str) -> Document:
    doc = await db[ledger_documents.LEDGER].find_one({"_id": entry_id})
    assert doc is not None
    return doc


@dataclass
class World:
    """Content with consistent state to draw random events from."""

    rng: random.Random
    members: tuple[str, ...] = ("m0", "m1", "m2", "m3", "m4")
    posts: dict[str, str] = field(default_factory=dict)  # post id -> author
    questions: dict[str, str] = field(default_factory=dict)  # post id -> its question's id
    votes: dict[tuple[str, str], int] = field(default_factory=dict)
    accepted: set[str] = field(default_factory=set)
    serial: int = 0
    clock: datetime = datetime(2026, 3, 2, 8, tzinfo=UTC)

    def _envelope(self, name: str, payload: Message) -> Envelope:
        self.clock += timedelta(minutes=self.rng.choice([1, 5, 90]))
        envelope = new_envelope(
            service="content", name=name, payload=payload, subject="s", region="emea", programme="sales"
        )
        return Envelope(**{**envelope.__dict__, "time": self.clock})

    def next(self) -> Envelope:
        rng = self.rng
        self.serial += 1
        kinds = {"ask": 3, "answer": 3, "vote": 5, "accept": 2, "remove": 1, "follow": 1, "rate": 2}
        kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
        if kind == "ask" or not self.questions:
            qid, author = f"q{self.serial}", rng.choice(self.members)
            self.posts[qid] = author
            self.questions[qid] = qid
            return self._envelope(
                "question_asked",
                events.QuestionAsked(
                    question_id=qid,
                    community_id=C,
                    author_id=author,
                    tags=rng.sample(["sql", "crm", "go"], 2),
                ),
            )
        if kind == "answer":
            qid = rng.choice(sorted({q for q in self.questions.values()}))
            aid, author = f"a{self.serial}", rng.choice(self.members)
            self.posts[aid] = author
            self.questions[aid] = qid
            answer = events.AnswerPosted(
                answer_id=aid,
                question_id=qid,
                community_id=C,
                author_id=author,
                question_author_id=self.posts[qid],
            )
            return self._envelope("answer_posted", answer)
        post = rng.choice(sorted(self.posts))
        author = self.posts[post]
        if kind == "vote":
            voter = rng.choice(self.members)
            previous = self.votes.get((voter, post), 0)
            value = rng.choice([v for v in (-1, 0, 1) if v != previous])
            self.votes[(voter, post)] = value
            payload = events.VoteChanged(
                target_kind="answer" if post.startswith("a") else "question",
                target_id=post,
                question_id=self.questions[post],
                community_id=C,
                voter_id=voter,
                target_author_id=author,
                previous_value=previous,
                value=value,
            )
            return self._envelope("vote_changed", payload)
        if kind == "accept":
            asker = self.posts[self.questions[post]]
            message: Message
            if post in self.accepted:
                self.accepted.discard(post)
                message = events.AnswerUnaccepted(answer_id=post, community_id=C, answer_author_id=author)
                return self._envelope("answer_unaccepted", message)
            self.accepted.add(post)
            message = events.AnswerAccepted(
                answer_id=post,
                question_id=self.questions[post],
                community_id=C,
                answer_author_id=author,
                question_author_id=asker,
            )
            return self._envelope("answer_accepted", message)
        if kind == "remove":
            payload_removed = events.PostRemoved(
                post_id=post, community_id=C, author_id=author, by_moderator=rng.random() < 0.5
            )
            return self._envelope("post_removed", payload_removed)
        if kind == "follow":
            followed = events.CollectionFollowed(
                collection_id=f"k{rng.randrange(3)}",
                community_id=C,
                curator_id="m0",
                follower_id=rng.choice(self.members),
            )
            return self._envelope("collection_followed", followed)
        rate_time = Timestamp()
        rate_time.FromDatetime(self.clock + timedelta(minutes=1))
        rated = events.ItemRated(
            item_id=post,
            community_id=C,
            author_id=author,
            rater_id=rng.choice(self.members),
            stars=rng.randint(1, 5),
            rate_time=rate_time,
        )
        return self._envelope("item_rated", rated)


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_events_redeliveries_and_crashes_leave_counters_equal_to_the_ledger(
    db: AsyncDatabase[Document], seed: int
) -> None:
    rng = random.Random(seed)
    calendar = Calendar()
    ledger = CrashingLedger(db, on_events=lambda *_: None, calendar=calendar)
    handlers = bind(
        DECODERS,
        ContentEventHandlers(
            ledger,
            LiveBoards(Leaderboards(), calendar),
            PointsTable(daily_caps={"upvote_received": 25, "collection_followed": 5}),
            MongoPointsRules(db),
            MongoPostTags(db),
            ratings=MongoRatings(db),
        ).handlers(),
    )
    world = World(rng)
    pending: list[Envelope] = []  # delivered and to be delivered again (a crash or a republish)
    crashing = random.Random(-seed)
    crashed: dict[str, Envelope] = {}  # unacknowledged: JetStream delivers them again
    crashes = 0

    async def deliver(envelope: Envelope, *, may_crash: bool = True) -> None:
        nonlocal crashes
        crash = may_crash and crashing.random() < 0.1
        ledger.crash_after = crashing.choice([0, 3, 7, 9]) if crash and crashing.random() < 0.7 else None
        ledger.crash_before_release = crash and ledger.crash_after is None
        try:
            await handlers[envelope.type](envelope)
            crashed.pop(envelope.id, None)
        except Crash:
            crashes += 1
            crashed[envelope.id] = envelope
        ledger.crash_after, ledger.crash_before_release = None, False

    for _ in range(140):
        envelope = world.next()
        await deliver(envelope)
        if rng.random() < 0.25:
            pending.append(envelope)
        if pending and rng.random() < 0.3:
            await deliver(pending.pop(rng.randrange(len(pending))))
    for envelope in pending:
        await deliver(envelope)
    assert crashes > 0
    # Whatever crashed is delivered again until it goes through, as JetStream would: the event itself,
    # whatever came after it.
    for envelope in list(crashed.values()):
        await deliver(envelope, may_crash=False)
    assert not crashed
    assert await db[ledger_documents.LEDGER].count_documents({"released": False}) == 0
    rules = set(await db[ledger_documents.LEDGER].distinct("rule"))
    assert {"post_removed", "answer_accepted", "upvote_received", "collection_followed"} <= rules
    assert rules & {"upvote_retracted", "answer_accepted_reversed", "resource_rated_reversed"}
    assert await _assert_counters_match_the_ledger(ledger, db) > 20
    # And the slow path writes the same counters back.
    before = _without_applied(await ledger.stored_counters(await ledger.recomputed("m1")))
    await ledger.recount_member("m1")
    assert _without_applied(await ledger.stored_counters(await ledger.recomputed("m1"))) == before


async def test_counters_of_entries_recorded_before_them_are_built_once_at_start(
    db: AsyncDatabase[Document],
) -> None:
    ledger = MongoLedger(db, on_events=lambda *_: None, calendar=Calendar())
    for i, voter in enumerate(["ann", "cat", "dan"]):
        await ledger.record(_entry(f"e{i}", 10, actor=voter), region="emea", programme="sales")
    # As the ledger was before counters: totals recomputed without ids, no other counter.
    await db[COUNTERS].drop()
    await db[TOTALS].update_many({}, {"$unset": {"seen": "", "updated": ""}})
    await db[TAG_TOTALS].update_many({}, {"$unset": {"seen": ""}})
    await db[META].delete_many({})
    assert await ledger.net_for_target(C, "bob", "a1", [Rule.UPVOTE_RECEIVED], actor_id="cat") == 0
    assert await ledger.migrate_counters() > 0
    assert await ledger.migrate_counters() == 0  # once per database
    assert await ledger.net_for_target(C, "bob", "a1", [Rule.UPVOTE_RECEIVED], actor_id="cat") == 10
    await _assert_counters_match_the_ledger(ledger, db)
    # Redelivering an old entry counts nothing twice; a new one counts on top.
    await ledger.record(_entry("e1", 10, actor="cat"), region="emea", programme="sales")
    await ledger.record(_entry("e9", 5, actor="eve"), region="emea", programme="sales")
    total: Any = await db[TOTALS].find_one({"_id": f"{C}:bob"})
    assert (total["points"], total["entries"]) == (35, 4)
    await _assert_counters_match_the_ledger(ledger, db)


async def test_badge_fact_sets_count_each_fact_once_and_are_built_for_facts_stored_before_them(
    db: AsyncDatabase[Document],
) -> None:
    badges = MongoBadges(db, on_events=lambda *_: None)
    for answer, asker in (("a1", "ann"), ("a2", "ann"), ("a1", "ann"), ("a3", "bob")):
        await badges.add_fact(
            f"answer_to:{answer}", community_id=C, member_id=asker, kind="answer_to", subject_id=f"q-{asker}"
        )
    assert await badges.count_facts(C, "answer_to", "q-ann") == 2
    assert await badges.fact_subjects(C, "ann", "answer_to") == {"q-ann"}
    # As stored before the sets: facts only.
    await db[BADGE_FACT_SETS].drop()
    await db[META].delete_many({})
    assert await badges.count_facts(C, "answer_to", "q-ann") == 0
    written: list[str] = []
    add_to_set = badges.add_to_set

    async def spy(set_id: str, field: str, values: Sequence[str]) -> None:
        written.append(set_id)
        await add_to_set(set_id, field, values)

    badges.add_to_set = spy  # type: ignore[method-assign]
    # Written after every fact: ann's sets twice, each write added to what the last one wrote.
    assert await badges.migrate_fact_sets(flush_every=1) == 3
    assert len(written) == 6
    assert written.count(f"member|{C}|ann|answer_to") == 2
    assert await badges.migrate_fact_sets() == 0  # once per database
    assert await badges.count_facts(C, "answer_to", "q-ann") == 2
    assert await badges.count_facts(C, "answer_to", "q-bob") == 1
    assert await badges.fact_subjects(C, "ann", "answer_to") == {"q-ann"}
    assert await badges.fact_subjects(C, "bob", "answer_to") == {"q-bob"}

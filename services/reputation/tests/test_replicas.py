"""Two replicas of the points handlers (each its own ledger, boards and store client, as two processes
would have) handling events at once against one database: daily caps, reversals, once-only credits and
the totals stay exact, with no lock anywhere; and what one ledger event costs in store commands."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from google.protobuf.message import Message
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from guild.events.v1 import content_events_pb2 as events
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.inbound import bind
from guild_common.mongo import Document, ensure_indexes
from guild_reputation.adapters import custom_badges_store, ledger_store
from guild_reputation.adapters.badges_store import BADGE_AWARDS, MongoBadges
from guild_reputation.adapters.custom_badges_store import MongoBadgeDefinitions
from guild_reputation.adapters.ledger_documents import LEDGER
from guild_reputation.adapters.ledger_store import MongoLedger
from guild_reputation.adapters.points_rules_store import MongoPointsRules
from guild_reputation.adapters.post_tags_store import MongoPostTags
from guild_reputation.adapters.ratings_store import MongoRatings
from guild_reputation.app.boards import LiveBoards
from guild_reputation.app.custom_badges_handlers import CustomBadgeRules
from guild_reputation.app.ledger_handlers import ContentEventHandlers
from guild_reputation.domain.badges import Tier
from guild_reputation.domain.custom_badges import BadgeDefinition, CountedEvent, Template, TemplatePeriod
from guild_reputation.domain.leaderboard import Leaderboards
from guild_reputation.domain.periods import GLOBAL, Calendar
from guild_reputation.domain.rules import LedgerEntry, PointsTable, Rule
from guild_reputation.entrypoints.event_decoders import DECODERS
from guild_testing.fixtures import Infra, database_name
from guild_testing.store_commands import StoreCommands

C = "c-1"
# Events handled at once by the two replicas in the workload test.
WAVE = 8
MOMENT = datetime(2026, 3, 4, 10, tzinfo=UTC)


@dataclass
class Replica:
    """What one process of the service holds: its own client, ledger, boards and handlers."""

    client: AsyncMongoClient[Document]
    ledger: MongoLedger
    live: LiveBoards
    handlers: ContentEventHandlers
    commands: StoreCommands

    async def handle(self, envelope: Envelope) -> None:
        await bind(DECODERS, self.handlers.handlers())[envelope.type](envelope)


@pytest_asyncio.fixture
async def replicas(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[list[Replica]]:
    name = database_name(request.node.name)
    started: list[Replica] = []
    for _ in range(2):
        commands = StoreCommands()
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            infra.mongo_uri, tz_aware=True, event_listeners=[commands]
        )
        db = client[name]
        if not started:
            await client.drop_database(name)
            await ensure_indexes(db, [*ledger_store.INDEXES, *custom_badges_store.INDEXES])
        calendar = Calendar()
        ledger = MongoLedger(db, on_events=lambda *_: None, calendar=calendar)
        live = LiveBoards(Leaderboards(), calendar)
        points = PointsTable(daily_caps={"upvote_received": 25})
        handlers = ContentEventHandlers(
            ledger, live, points, MongoPointsRules(db), MongoPostTags(db), ratings=MongoRatings(db)
        )
        started.append(Replica(client, ledger, live, handlers, commands))
    yield started
    await started[0].client.drop_database(name)
    for replica in started:
        await replica.client.close()


def _event(name: str, payload: Message, moment: datetime = MOMENT) -> Envelope:
    envelope = new_envelope(
        service="content", name=name, payload=payload, subject="s", region="emea", programme="sales"
    )
    return Envelope(**{**envelope.__dict__, "time": moment})


def _vote(voter: str, post: str, previous: int, value: int, author: str = "bob") -> Envelope:
    return _event(
        "vote_changed",
        events.VoteChanged(
            target_kind="answer",
            target_id=post,
            question_id="q1",
            community_id=C,
            voter_id=voter,
            target_author_id=author,
            previous_value=previous,
            value=value,
        ),
    )


async def _both(replicas: Sequence[Replica], envelopes: Sequence[Envelope]) -> None:
    """Each event to one replica or the other, all at once."""
    await asyncio.gather(*(replicas[i % 2].handle(envelope) for i, envelope in enumerate(envelopes)))


async def _known_question(db: AsyncDatabase[Document], *answers: str) -> None:
    tags = MongoPostTags(db)
    await tags.remember("q1", ["sql"])
    for answer in answers:
        await tags.remember(answer, [], question_id="q1")


async def _ledger_points(db: AsyncDatabase[Document], member: str, target: str | None = None) -> int:
    match: Document = {"member_id": member, **({"target_id": target} if target else {})}
    return sum([int(doc["amount"]) async for doc in db[LEDGER].find(match, {"amount": 1})])


async def _assert_totals_equal_the_ledger(db: AsyncDatabase[Document], ledger: MongoLedger) -> None:
    """Every counter (totals, tag totals, per-target, per-day) equals its recomputation from the ledger."""
    assert await db[LEDGER].count_documents({"released": False}) == 0
    for member in await db[LEDGER].distinct("member_id"):
        recomputed = await ledger.recomputed(member)
        assert await ledger.stored_counters(recomputed) == recomputed, member


def _db(replica: Replica) -> AsyncDatabase[Document]:
    return replica.ledger._ledger.database


async def test_the_daily_cap_is_exact_with_two_replicas_granting_at_once(replicas: list[Replica]) -> None:
    db = _db(replicas[0])
    answers = [f"a{i}" for i in range(12)]
    await _known_question(db, *answers)
    # 12 upvotes of 10 points, on one day, under a cap of 25: two full gains and one cut to 5.
    votes = [_vote(f"v{i}", answer, 0, 1) for i, answer in enumerate(answers)]
    await _both(replicas, votes)
    assert await _ledger_points(db, "bob") == 25
    assert await replicas[0].ledger.earned_on(C, "bob", Rule.UPVOTE_RECEIVED, MOMENT) == 25
    amounts = sorted([int(d["amount"]) async for d in db[LEDGER].find({"member_id": "bob"})], reverse=True)
    assert amounts == [10, 10, 5, *([0] * 9)]
    await _assert_totals_equal_the_ledger(db, replicas[0].ledger)
    # Every event delivered again to both replicas at once: nothing more.
    await _both(replicas, votes + votes)
    assert await _ledger_points(db, "bob") == 25
    assert await db[LEDGER].count_documents({"member_id": "bob"}) == len(votes)


async def test_a_removal_and_retractions_racing_on_two_replicas_take_back_what_was_earned_once(
    replicas: list[Replica],
) -> None:
    db = _db(replicas[0])
    posts = [f"a{i}" for i in range(6)]
    await _known_question(db, *posts)
    for post in posts:
        await replicas[0].handle(_vote("ann", post, 0, 1))
        await replicas[1].handle(_vote("cat", post, 0, 1))
    assert await _ledger_points(db, "bob") == 25  # the cap: 10 + 10 + 5, the rest 0
    racing: list[Envelope] = []
    for post in posts:
        removal = _event(
            "post_removed",
            events.PostRemoved(post_id=post, community_id=C, author_id="bob", by_moderator=True),
        )
        # The removal, both retractions, and each delivered twice: all at once.
        batch = [removal, _vote("ann", post, 1, 0), _vote("cat", post, 1, 0)]
        racing += batch + batch
    await _both(replicas, racing)
    for post in posts:
        assert await _ledger_points(db, "bob", post) == 0, post
    assert await _ledger_points(db, "bob") == 0
    assert await db[LEDGER].count_documents({"rule": "post_removed"}) == len(posts)
    await _assert_totals_equal_the_ledger(db, replicas[0].ledger)


async def test_a_follower_and_a_rater_credit_once_however_their_events_race(replicas: list[Replica]) -> None:
    db = _db(replicas[0])
    follows = [
        _event(
            "collection_followed",
            events.CollectionFollowed(
                collection_id="k1", community_id=C, curator_id="cur", follower_id="ann"
            ),
        )
        for _ in range(4)  # followed, unfollowed and followed again: distinct events
    ]
    rate_time = MOMENT + timedelta(minutes=1)
    ratings = []
    for stars in (5, 4, 5):
        message = events.ItemRated(item_id="r1", community_id=C, author_id="bob", rater_id="ann", stars=stars)
        message.rate_time.FromDatetime(rate_time)
        ratings.append(_event("item_rated", message))
    await _both(replicas, [*follows, *follows, *ratings, *ratings])
    assert await _ledger_points(db, "cur") == PointsTable().collection_followed
    assert await _ledger_points(db, "bob") == PointsTable().resource_rated
    await _assert_totals_equal_the_ledger(db, replicas[0].ledger)


async def test_totals_and_both_replicas_boards_equal_the_ledger_after_a_concurrent_workload(
    replicas: list[Replica],
) -> None:
    db = _db(replicas[0])
    members = [f"m{i}" for i in range(6)]
    answers = [f"a{i}" for i in range(8)]
    await _known_question(db, *answers)
    workload: list[Envelope] = []
    for i, answer in enumerate(answers):
        author = members[i % len(members)]
        for voter in members:
            if voter != author:
                workload.append(_vote(voter, answer, 0, 1, author=author))
        workload.append(
            _event(
                "answer_accepted",
                events.AnswerAccepted(
                    answer_id=answer,
                    question_id="q1",
                    community_id=C,
                    answer_author_id=author,
                    question_author_id="asker",
                ),
            )
        )
        if i % 3 == 0:
            workload.append(_vote(members[(i + 1) % len(members)], answer, 1, 0, author=author))
    # In waves of a consumer batch: far more at once stalls the embedded store (see the report).
    every = workload + workload[::3]
    for start in range(0, len(every), WAVE):
        await _both(replicas, every[start : start + WAVE])
    await _assert_totals_equal_the_ledger(db, replicas[0].ledger)
    for member in members:
        points = await _ledger_points(db, member)
        stored = {
            (t.community_id, t.period): t.points
            for t in await replicas[0].ledger.stored_totals(C, member, MOMENT)
        }
        assert stored[(C, "all")] == stored[(GLOBAL, "all")] == points, member
        # Each replica's boards, brought up to date from the stored totals, show the same.
        for replica in replicas:
            await replica.live.refresh(replica.ledger, C, member, MOMENT, "")
            board = replica.live.boards.find(C, "all")
            assert board is not None
            standing = board.standing(member)
            assert standing is not None
            assert standing.points == points


async def test_a_repeatable_rolling_window_awards_once_per_claim_with_two_replicas(infra: Infra) -> None:
    name = database_name("rolling_two_replicas")
    clients: list[AsyncMongoClient[Document]] = [
        AsyncMongoClient(infra.mongo_uri, tz_aware=True) for _ in range(2)
    ]
    await clients[0].drop_database(name)
    try:
        calendar = Calendar()
        definition = BadgeDefinition(
            id="d1",
            community_id=C,
            title="Busy week",
            description="",
            tier=Tier.BRONZE,
            template=Template(CountedEvent.QUESTION_ASKED, 3, TemplatePeriod.ROLLING_DAYS, 7),
            repeatable=True,
            created_by="owner",
            create_time=MOMENT,
        )
        await MongoBadgeDefinitions(clients[0][name]).create(definition)
        rules = [
            bind(
                DECODERS,
                CustomBadgeRules(
                    MongoBadgeDefinitions(client[name]),
                    MongoBadges(client[name], on_events=lambda *_: None),
                    MongoPostTags(client[name]),
                    calendar,
                ).handlers(),
            )["guild.content.question_asked.v1"]
            for client in clients
        ]
        # Nine questions over three days, handled at once by both replicas (and each twice).
        questions = [
            _event(
                "question_asked",
                events.QuestionAsked(question_id=f"q{i}", community_id=C, author_id="ann", tags=["sql"]),
                MOMENT + timedelta(days=i // 3, minutes=i),
            )
            for i in range(9)
        ]
        await asyncio.gather(*(rules[i % 2](q) for i, q in enumerate(questions + questions)))
        awards = await clients[0][name][BADGE_AWARDS].count_documents({"member_id": "ann"})
        # However the claims interleave, no question counts towards two awards: at most three.
        assert 1 <= awards <= 3
        counted = await MongoBadgeDefinitions(clients[0][name]).counted(
            "d1", "ann", definition.count(calendar, MOMENT + timedelta(days=2, hours=1))
        )
        assert counted == 9  # each question counted once, whatever the deliveries
    finally:
        await clients[0].drop_database(name)
        for client in clients:
            await client.close()


async def test_a_ledger_event_costs_a_few_store_commands(replicas: list[Replica]) -> None:
    replica = replicas[0]
    db = _db(replica)
    commands = replica.commands
    # The ledger's own cost of an entry: the insert, one bulk per counter collection (totals, tag
    # totals, the rest), the release (a document holding the events, which the relay publishes in
    # place of reading and clearing every entry, then the entries marked); and nothing more when the
    # same entry is recorded again.
    for i in range(10):
        entry = LedgerEntry.for_event(
            event_id=f"e{i}",
            rule=Rule.ANSWER_POSTED,
            community_id=C,
            member_id="bob",
            amount=5,
            target_id=f"a{i}",
            time=MOMENT,
            tags=["sql"],
        )
        commands.clear()
        await replica.ledger.record(entry, region="emea", programme="sales")
        if i == 0:
            # The member's first entry also creates its totals and tag totals: for each, the
            # shared update matches none, a read finds them missing, they are inserted, counted.
            assert dict(commands.sent) == {"insert": 4, "update": 6, "find": 2}
            continue
        assert dict(commands.sent) == {"insert": 2, "update": 4}
        commands.clear()
        await replica.ledger.record(entry, region="emea", programme="sales")
        assert dict(commands.sent) == {"insert": 1, "find": 1}  # recorded and released: the insert says so
    # An answer's gain (no cap, no decision on counters): the rules, the question's tags, the answer
    # remembered with them, the entry, three bulks, the release, the boards.
    await _known_question(db)
    answers = [
        _event(
            "answer_posted",
            events.AnswerPosted(
                answer_id=f"n{i}", question_id="q1", community_id=C, author_id="cat", question_author_id="ann"
            ),
        )
        for i in range(10)
    ]
    commands.clear()
    for envelope in answers:
        await replica.handle(envelope)
    # (cat's first answer creates cat's totals and tag totals: one find, insert and update each more)
    assert dict(commands.sent) == {"insert": 3 * 10 + 2, "find": 3 * 10 + 2, "update": 4 * 10 + 2}
    # A whole upvote, from the event: the rules, the answer's tags, the post's counters, the daily cap,
    # the entry, the decision's guarded counter, the three bulks, the release and this replica's boards
    # reading the totals back. The cap cut 8 of the 10 gains: each of those read the cap counter and
    # wrote it guarded.
    upvotes = [_vote(f"v{i}", f"n{i}", 0, 1, author="cat") for i in range(10)]
    commands.clear()
    for envelope in upvotes:
        await replica.handle(envelope)
    assert dict(commands.sent) == {"find": 4 * 10 + 8, "insert": 2 * 10, "update": 6 * 10 + 8}

"""Events about a question reputation has not heard of yet are delivered again rather than recorded
without its tags; custom-badge counters built once from the ticks stored before them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from guild.events.v1 import content_events_pb2 as events
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.inbound import bind
from guild_common.mongo import Document, ensure_indexes
from guild_reputation.adapters import ledger_store
from guild_reputation.adapters.custom_badges_store import TICKS, MongoBadgeDefinitions
from guild_reputation.adapters.ledger_documents import LEDGER
from guild_reputation.adapters.ledger_store import MongoLedger
from guild_reputation.adapters.points_rules_store import MongoPointsRules
from guild_reputation.adapters.post_tags_store import MongoPostTags
from guild_reputation.adapters.waits_store import MongoWaits
from guild_reputation.app.boards import LiveBoards
from guild_reputation.app.ledger import NotYetKnown
from guild_reputation.app.ledger_handlers import ContentEventHandlers
from guild_reputation.domain.custom_badges import Count
from guild_reputation.domain.leaderboard import Leaderboards
from guild_reputation.domain.periods import Calendar
from guild_reputation.domain.rules import PointsTable
from guild_reputation.entrypoints.event_decoders import DECODERS
from guild_testing.fixtures import Infra, database_name

C = "c-1"


@pytest_asyncio.fixture
async def db(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[AsyncDatabase[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    name = database_name(request.node.name)
    await client.drop_database(name)
    database = client[name]
    await ensure_indexes(database, ledger_store.INDEXES)
    yield database
    await client.drop_database(name)
    await client.close()


def _event(name: str, payload: events.AnswerPosted | events.QuestionAsked) -> Envelope:
    return new_envelope(
        service="content", name=name, payload=payload, subject="s", region="emea", programme="sales"
    )


def _answer(answer_id: str, question_id: str) -> Envelope:
    return _event(
        "answer_posted",
        events.AnswerPosted(
            answer_id=answer_id,
            question_id=question_id,
            community_id=C,
            author_id="bob",
            question_author_id="ann",
        ),
    )


async def test_an_answer_to_an_unknown_question_waits_for_its_tags_then_goes_without(
    db: AsyncDatabase[Document],
) -> None:
    now = [datetime(2026, 3, 4, 10, tzinfo=UTC)]
    calendar = Calendar()
    handlers = bind(
        DECODERS,
        ContentEventHandlers(
            MongoLedger(db, on_events=lambda *_: None, calendar=calendar),
            LiveBoards(Leaderboards(), calendar),
            PointsTable(),
            MongoPointsRules(db),
            MongoPostTags(db),
            waits=MongoWaits(db),
            tags_wait=timedelta(seconds=30),
            clock=lambda: now[0],
        ).handlers(),
    )
    answered, unknown = _answer("a1", "q1"), _answer("a2", "q2")
    for envelope in (answered, unknown):
        with pytest.raises(NotYetKnown):  # not PermanentError: the consumer delivers it again
            await handlers[envelope.type](envelope)
    assert await db[LEDGER].count_documents({}) == 0
    # The question comes; the answer's redelivery takes its tags.
    asked = _event(
        "question_asked",
        events.QuestionAsked(question_id="q1", community_id=C, author_id="ann", tags=["SQL"]),
    )
    await handlers[asked.type](asked)
    now[0] += timedelta(seconds=10)
    await handlers[answered.type](answered)
    entry = await db[LEDGER].find_one({"_id": f"{answered.id}:answer_posted"})
    assert entry is not None
    assert entry["tags"] == ["sql"]
    # The other question never comes: within the wait its answer is delivered again...
    with pytest.raises(NotYetKnown):
        await handlers[unknown.type](unknown)
    # ...and after it, recorded without tags rather than dead-lettered.
    now[0] += timedelta(seconds=25)
    await handlers[unknown.type](unknown)
    entry = await db[LEDGER].find_one({"_id": f"{unknown.id}:answer_posted"})
    assert entry is not None
    assert entry["tags"] == []
    assert await db["event_waits"].count_documents({}) == 1  # the first answer's: it found its tags


async def test_custom_badge_counters_are_built_once_from_the_ticks_stored_before_them(
    db: AsyncDatabase[Document],
) -> None:
    definitions = MongoBadgeDefinitions(db)
    week = Count("2026-W10", 20_500, "2026-W10")
    for event in ("e1", "e2", "e2", "e3"):
        await definitions.tick("d1", event, "ann", week)
    assert await definitions.counted("d1", "ann", week) == 3
    # As stored before the counters: ticks without ``counted``, no counter.
    await db["badge_counts"].drop()
    await db["badge_meta"].drop()
    await db[TICKS].update_many({}, {"$unset": {"counted": ""}})
    assert await definitions.counted("d1", "ann", week) == 0
    assert await definitions.migrate_counts() == 3
    assert await definitions.migrate_counts() == 0  # once per database
    assert await definitions.counted("d1", "ann", week) == 3
    await definitions.tick("d1", "e4", "ann", week)
    await definitions.tick("d1", "e1", "ann", week)  # counted before
    assert await definitions.counted("d1", "ann", week) == 4
    # A rolling window sums the counters of its days.
    for day, event in ((20_498, "r1"), (20_499, "r2"), (20_500, "r3"), (20_500, "r4")):
        await definitions.tick("d2", event, "ann", Count("", day, "once", day - 6))
    assert await definitions.counted("d2", "ann", Count("", 20_500, "once", 20_499)) == 3

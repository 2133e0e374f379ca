"""Two replicas of content's stores racing on the same documents: totals and events stay exact.

Each replica is its own client on one database, as two processes would be; nothing but the store's
single-document atomicity keeps them consistent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from guild.events.v1 import content_events_pb2 as events
from guild_common.events.envelope import Envelope
from guild_common.mongo import Document
from guild_content.adapters.mongo_repository import MongoQuestionRepository
from guild_content.domain.model import CommunityView, Question
from guild_testing.fixtures import Infra

Database = AsyncDatabase[Document]
COMMUNITY = CommunityView("c1", "emea", "induction", "live", "open")
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def no_wake(collection: str | None = None, doc_id: object = None) -> None:
    """Nothing relays in these tests: the events stay queued on the documents, where they are checked."""


@asynccontextmanager
async def two_databases(mongo_uri: str) -> AsyncIterator[tuple[Database, Database]]:
    """The same fresh database through two clients, as two replicas of the service would see it."""
    name = f"t_replicas_{uuid.uuid4().hex[:12]}"
    first: AsyncMongoClient[Document] = AsyncMongoClient(mongo_uri, tz_aware=True)
    second: AsyncMongoClient[Document] = AsyncMongoClient(mongo_uri, tz_aware=True)
    try:
        yield first[name], second[name]
    finally:
        await first.drop_database(name)
        await first.close()
        await second.close()


def queued(doc: Document | None, event_type: str) -> list[Envelope]:
    """The events of ``event_type`` queued on ``doc``'s outbox, in the order they were written."""
    assert doc is not None
    envelopes = [Envelope.from_document(e) for e in doc.get("outbox", [])]
    return [e for e in envelopes if e.type == f"guild.content.{event_type}.v1"]


def _question(author: str = "ann", qid: str = "q1") -> Question:
    return Question.ask(
        id=qid, community_id=COMMUNITY.id, author_id=author, title="Leave?", body="", tags=["hr"], now=NOW
    )


async def test_votes_through_two_replicas_keep_the_exact_score_and_event_chain(infra: Infra) -> None:
    async with two_databases(infra.mongo_uri) as (db_a, db_b):
        replicas = [MongoQuestionRepository(db, on_events=no_wake) for db in (db_a, db_b)]
        question = await replicas[0].add_question(_question(), COMMUNITY)
        target = question.ref()
        voters = [f"v{i}" for i in range(24)]

        async def vote(i: int, voter: str, value: int) -> None:
            await replicas[i % 2].apply_vote(target, voter, value, NOW, COMMUNITY, question_tags=("hr",))

        # Everyone votes up at once; then some flip, some retract, and one voter changes their mind
        # twenty times from both replicas at once.
        await asyncio.gather(*(vote(i, v, 1) for i, v in enumerate(voters)))
        fickle = [1, -1, 0, -1, 1, 0, 1, 1, -1, 0] * 2
        await asyncio.gather(
            *(vote(i, v, -1) for i, v in enumerate(voters[:8])),
            *(vote(i, v, 0) for i, v in enumerate(voters[8:12])),
            *(vote(i, "fickle", value) for i, value in enumerate(fickle)),
        )

        votes = [d async for d in db_a.votes.find({"target_id": question.id})]
        stored = await db_b.questions.find_one({"_id": question.id})
        assert stored is not None
        assert stored["score"] == sum(d["value"] for d in votes)
        assert stored["score"] == (len(voters) - 12) - 8 + next(
            (d["value"] for d in votes if d["voter_id"] == "fickle"), 0
        )
        # Each event names the score its change made: in write order they form one unbroken chain.
        changes = [e.payload(events.VoteChanged) for e in queued(stored, "vote_changed")]
        score = 0
        for change in changes:
            score += change.value - change.previous_value
            assert change.score == score
            assert list(change.question_tags) == ["hr"]
        assert score == stored["score"]
        # Each voter's changes add up to their stored vote: no change is lost or counted twice (a voter's
        # own concurrent changes may reach the post in another order than they reached the vote).
        final = {d["voter_id"]: d["value"] for d in votes}
        moved: dict[str, int] = {}
        for change in changes:
            assert change.previous_value != change.value
            moved[change.voter_id] = moved.get(change.voter_id, 0) + change.value - change.previous_value
        assert {v: m for v, m in moved.items() if m} == final

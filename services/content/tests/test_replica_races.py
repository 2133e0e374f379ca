"""Two replicas of content's stores racing on the same documents: totals and events stay exact.

Each replica is its own client on one database, as two processes would be; nothing but the store's
single-document atomicity keeps them consistent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from guild.events.v1 import content_events_pb2 as events
from guild_common.events.envelope import Envelope
from guild_common.mongo import Document
from guild_content.adapters.curation_store import MongoCurationRepository
from guild_content.adapters.feed_store import MongoFeedRepository
from guild_content.adapters.membership_store import MembershipReadModel
from guild_content.adapters.moderation_store import MongoModerationRepository
from guild_content.adapters.question_store import MongoQuestionRepository
from guild_content.adapters.resource_store import MongoResourceRepository
from guild_content.domain.community import CommunityView, Role
from guild_content.domain.curation import Collection, CollectionItem
from guild_content.domain.moderation import Flag
from guild_content.domain.posts import PostEdited, Revision, Text
from guild_content.domain.questions import Question
from guild_content.domain.resources import RatingSummary, Resource
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


def _resource() -> Resource:
    return Resource.share(
        id="r1",
        community_id=COMMUNITY.id,
        author_id="ann",
        url="https://example.org/guide",
        title="Guide",
        summary="",
        media_type="article",
        tags=[],
        now=NOW,
    )


async def test_ratings_through_two_replicas_keep_exact_counts(infra: Infra) -> None:
    async with two_databases(infra.mongo_uri) as (db_a, db_b):
        replicas = [MongoResourceRepository(db, on_events=no_wake) for db in (db_a, db_b)]
        item, _ = await replicas[0].add_resource(_resource(), COMMUNITY)
        raters = [f"r{i}" for i in range(20)]
        await asyncio.gather(
            *(replicas[i % 2].rate(item, r, 1 + i % 5, "", NOW, COMMUNITY) for i, r in enumerate(raters)),
            # One member re-rates from both replicas at once.
            *(replicas[i % 2].rate(item, "fickle", 1 + i % 5, "", NOW, COMMUNITY) for i in range(10)),
        )
        stars = [d["stars"] async for d in db_a.ratings.find({"item_id": item.id})]
        expected = RatingSummary.of({s: stars.count(s) for s in range(1, 6)})
        stored = await db_b.resources.find_one({"_id": item.id})
        assert stored is not None
        assert stored["rating"]["distribution"] == list(expected.distribution)
        assert (stored["rating"]["count"], stored["rating"]["average"]) == (21, expected.average)
        rated = [e.payload(events.ItemRated) for e in queued(stored, "item_rated")]
        assert len(rated) == 30
        # Every event names the count its rating made: first ratings count up one by one, re-ratings hold.
        assert sorted(r.count for r in rated if r.previous_stars == 0) == list(range(1, 22))
        assert [r.count for r in rated] == sorted(r.count for r in rated)


async def test_flags_through_two_replicas_count_each_once_and_hide_once(infra: Infra) -> None:
    async with two_databases(infra.mongo_uri) as (db_a, db_b):
        await MongoQuestionRepository(db_a, on_events=no_wake).add_question(_question(), COMMUNITY)
        replicas = [MongoModerationRepository(db, on_events=no_wake) for db in (db_a, db_b)]
        post = _question().ref()
        members = [f"m{i}" for i in range(12)]

        async def flag(i: int, member: str) -> tuple[int, bool]:
            raised = Flag.raise_(post=post, member_id=member, reason="spam", note="", now=NOW)
            assert await replicas[i % 2].add_flag(raised)
            return await replicas[i % 2].count_flags(raised, 3, COMMUNITY)

        results = await asyncio.gather(*(flag(i, m) for i, m in enumerate(members)))
        assert sorted(count for count, _ in results) == list(range(1, 13))
        stored = await db_b.questions.find_one({"_id": post.id})
        assert stored is not None
        assert (stored["flag_count"], stored["hidden"], stored["auto_hidden"]) == (12, True, True)
        flagged = [e.payload(events.PostFlagged).flag_count for e in queued(stored, "post_flagged")]
        assert sorted(flagged) == list(range(1, 13))
        [hidden] = [e.payload(events.PostHidden) for e in queued(stored, "post_hidden")]
        assert hidden.flag_count == 3
        assert await db_a.moderation_log.count_documents({"post_id": post.id, "action": "auto_hide"}) == 1
        queue = await db_a.moderation_queue.find_one({"_id": post.id})
        assert queue is not None
        assert (queue["flag_count"], queue["hidden"], queue["reasons"]) == (12, True, ["spam"])
        assert queue["state"] == "pending"


async def test_collection_follows_and_changes_through_two_replicas_are_exact(infra: Infra) -> None:
    async with two_databases(infra.mongo_uri) as (db_a, db_b):
        replicas = [MongoCurationRepository(db, on_events=no_wake) for db in (db_a, db_b)]
        created = Collection.create(
            id="c1", community_id=COMMUNITY.id, curator_id="cy", title="Start", description="", now=NOW
        )
        collection = await replicas[0].add_collection(created)
        members = [f"m{i}" for i in range(16)]

        async def follow(i: int, member: str, on: bool) -> int:
            return await replicas[i % 2].set_following(collection, member, on, NOW, COMMUNITY)

        # Following twice counts once.
        await asyncio.gather(*(follow(i, m, True) for i, m in enumerate(members + members[:4])))
        await asyncio.gather(*(follow(i, m, False) for i, m in enumerate(members[:6])))
        stored = await db_b.collections.find_one({"_id": collection.id})
        assert stored is not None
        assert stored["follower_count"] == 10 == await db_a.collection_follows.count_documents({})
        followed = queued(stored, "collection_followed")
        counts = sorted(e.payload(events.CollectionFollowed).follower_count for e in followed)
        assert counts == list(range(1, 17))

        # Items added from both replicas at once are all kept, in positions without gaps.
        def adding(n: int) -> Callable[[Collection], object]:
            url = f"https://example.org/{n}"
            item = CollectionItem.new(id=f"i{n}", post_id="", url=url, title="x", note="", now=NOW)
            return lambda c: c.add(item, None, NOW)

        await asyncio.gather(
            *(replicas[n % 2].change_collection(collection.id, adding(n), COMMUNITY) for n in range(12))
        )
        changed = await replicas[1].get_collection(collection.id)
        assert changed is not None
        assert sorted(i.id for i in changed.items) == sorted(f"i{n}" for n in range(12))
        assert [i.position for i in changed.items] == list(range(12))


async def test_tag_follow_limit_holds_across_two_replicas(infra: Infra) -> None:
    async with two_databases(infra.mongo_uri) as (db_a, db_b):
        replicas = [MongoFeedRepository(db, on_events=no_wake) for db in (db_a, db_b)]
        tags = [f"t{n}" for n in range(12)]
        done = await asyncio.gather(
            *(replicas[n % 2].follow_tag("ann", tag, NOW, limit=8) for n, tag in enumerate(tags))
        )
        assert sorted(done) == ["followed"] * 8 + ["full"] * 4
        assert await db_a.tag_follows.count_documents({"member_id": "ann"}) == 8
        followed = [d["tag"] async for d in db_a.tag_follows.find({"member_id": "ann"})]
        # Following a followed tag again (a place is taken, then given back) leaves the count as it was.
        again = await asyncio.gather(
            *(replicas[n % 2].follow_tag("ann", tag, NOW, limit=9) for n, tag in enumerate(followed))
        )
        assert again == ["already"] * 8
        counter = await db_b.tag_follow_counts.find_one({"_id": "ann"})
        assert counter is not None
        assert counter["count"] == 8
        await asyncio.gather(
            *(replicas[n % 2].unfollow_tag("ann", tag, NOW) for n, tag in enumerate(followed * 2))
        )
        counter = await db_b.tag_follow_counts.find_one({"_id": "ann"})
        assert counter is not None
        assert counter["count"] == 0
        assert await db_a.tag_unfollows.count_documents({}) == 8


async def test_membership_read_model_keeps_the_newest_role_across_two_replicas(infra: Infra) -> None:
    async with two_databases(infra.mongo_uri) as (db_a, db_b):
        replicas = [MembershipReadModel(db) for db in (db_a, db_b)]
        roles = [Role.MEMBER, Role.CHAMPION, Role.CURATOR, Role.MODERATOR]
        changes = [(roles[n % 4], NOW + timedelta(seconds=n)) for n in range(24)]
        newest = changes[-1][0]
        await asyncio.gather(
            *(replicas[n % 2].set_role("c1", "ann", r, at) for n, (r, at) in enumerate(reversed(changes)))
        )
        membership = await replicas[0].membership("c1", "ann")
        assert membership is not None
        assert membership.role == newest


async def test_edits_from_one_version_through_two_replicas_store_one_naming_its_editor(infra: Infra) -> None:
    async with two_databases(infra.mongo_uri) as (db_a, db_b):
        replicas = [MongoQuestionRepository(db, on_events=no_wake) for db in (db_a, db_b)]
        question = await replicas[0].add_question(_question(), COMMUNITY)
        editors = [f"e{n}" for n in range(8)]

        async def edit(n: int, editor: str) -> bool:
            text = Text(f"Leave? ({editor})", "", ["hr"])
            revision = Revision(question.id, 1, editor, NOW, question.text)
            event = PostEdited(question.ref(), editor, 1, NOW)
            return await replicas[n % 2].save_edit(question, text, revision, [event], COMMUNITY)

        saved = await asyncio.gather(*(edit(n, e) for n, e in enumerate(editors)))
        assert saved.count(True) == 1
        winner = editors[saved.index(True)]
        stored = await db_b.questions.find_one({"_id": question.id})
        assert stored is not None
        assert (stored["title"], stored["version"], stored["edit_count"]) == (f"Leave? ({winner})", 2, 1)
        revision = await db_a.revisions.find_one({"_id": f"{question.id}:1"})
        assert revision is not None
        assert (revision["editor_id"], revision["title"], revision["confirmed"]) == (winner, "Leave?", True)
        [edited] = [e.payload(events.PostEdited) for e in queued(stored, "post_edited")]
        assert edited.editor_id == winner

"""The ports' contract, checked on the in-memory stores (``memory``) and on the MongoDB ones (``mongo``).

The same test runs on both: the fast app-layer tests may trust the in-memory stores only as far as these
checks hold for the MongoDB stores too. The ``mongo`` runs need FerretDB (they are marked ``servers``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from services.content.tests import memory

import guild_content.adapters
from guild_common.errors import InvalidArgument, NotFound
from guild_common.events.envelope import Envelope
from guild_common.mongo import Document, collect_schema, ensure_indexes
from guild_content.adapters.curation_store import MongoCurationRepository
from guild_content.adapters.feed_store import MongoFeedRepository
from guild_content.adapters.membership_store import MembershipReadModel
from guild_content.adapters.moderation_store import MongoModerationRepository
from guild_content.adapters.question_store import MongoQuestionRepository
from guild_content.adapters.resource_store import MongoResourceRepository
from guild_content.app.ports import (
    CurationRepository,
    FeedQuery,
    FeedRepository,
    MembershipDirectory,
    MembershipStore,
    ModerationRepository,
    PersonFollowStore,
    QuestionRepository,
    ResourceRepository,
    StoredHints,
)
from guild_content.domain.community import CommunityView, MembershipView, Role
from guild_content.domain.curation import Collection, CollectionItem, Feature, ItemFeatured
from guild_content.domain.duplicates import DuplicateMarked
from guild_content.domain.moderation import Flag, ModerationEntry, PostLocked
from guild_content.domain.posts import PostEdited, PostRemoved, Revision, Text
from guild_content.domain.questions import Answer, Comment, Question
from guild_content.domain.resources import Resource
from guild_testing.fixtures import Infra, database_name

T0 = memory.T0
COMMUNITY = CommunityView("c1", "emea", "induction", "live", "open")
OTHER = CommunityView("c2", "emea", "induction", "live", "open")


class Directory(MembershipDirectory, MembershipStore, Protocol):
    """The read model is both ports."""


class Feeds(FeedRepository, PersonFollowStore, Protocol):
    """The feed store is both ports."""


@dataclass
class Stores:
    posts: QuestionRepository
    moderation: ModerationRepository
    directory: Directory
    resources: ResourceRepository
    curation: CurationRepository
    feeds: Feeds
    # Where the queued events are read from: the in-memory stores' shared list, or MongoDB's outboxes.
    events: list[object] | None = None
    db: AsyncDatabase[Document] | None = None

    async def queued_types(self) -> list[str]:
        """The types of every event the writes so far queued for publishing, sorted."""
        if self.events is not None:
            return sorted(e.type for e in memory.envelopes_of(self.events, COMMUNITY))
        assert self.db is not None
        found = []
        for name in await self.db.list_collection_names():
            async for doc in self.db[name].find({"outbox": {"$exists": True}}, {"outbox": 1}):
                found += [Envelope.from_document(e).type for e in doc["outbox"]]
        return sorted(found)


def no_wake(collection: str | None = None, doc_id: object = None) -> None:
    """Nothing relays in these tests."""


@pytest_asyncio.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.servers)])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    if request.param == "memory":
        posts = memory.MemoryQuestionRepository()
        resources = memory.MemoryResourceRepository(posts.events)
        yield Stores(
            posts,
            memory.MemoryModerationRepository(posts),
            memory.MemoryMembershipDirectory(),
            resources,
            memory.MemoryCurationRepository(posts),
            memory.MemoryFeedRepository(posts, resources),
            events=posts.events,
        )
        return
    infra: Infra = request.getfixturevalue("infra")
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    name = database_name(request.node.name)
    await client.drop_database(name)
    db = client[name]
    await ensure_indexes(db, collect_schema(guild_content.adapters).indexes)
    try:
        yield Stores(
            MongoQuestionRepository(db, on_events=no_wake),
            MongoModerationRepository(db, on_events=no_wake),
            MembershipReadModel(db),
            MongoResourceRepository(db, on_events=no_wake),
            MongoCurationRepository(db, on_events=no_wake),
            MongoFeedRepository(db, on_events=no_wake),
            db=db,
        )
    finally:
        await client.drop_database(name)
        await client.close()


def _question(
    qid: str,
    minutes: int = 0,
    *,
    title: str = "How do I book leave?",
    body: str = "Where is the form?",
    tags: tuple[str, ...] = ("hr",),
    author: str = "ann",
    community: CommunityView = COMMUNITY,
) -> Question:
    return Question.ask(
        id=qid,
        community_id=community.id,
        author_id=author,
        title=title,
        body=body,
        tags=list(tags),
        now=T0 + timedelta(minutes=minutes),
    )


def _answer(question: Question, aid: str, minutes: int = 1, author: str = "bob") -> Answer:
    return question.answer(
        id=aid, author_id=author, body="Use the portal.", now=T0 + timedelta(minutes=minutes)
    )


async def _all_pages(fetch, page_size: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Every id of a paged list, a page at a time; fails on a repeat."""
    ids: list[str] = []
    token = ""
    while True:
        page = await fetch(page_size, token)
        ids += [item.id for item in page.items]
        token = page.next_token
        if not token:
            break
    assert len(ids) == len(set(ids))
    return ids


# --- posts -------------------------------------------------------------------------------------------


async def test_adding_a_question_twice_returns_the_stored_one(stores: Stores) -> None:
    first = await stores.posts.add_question(_question("q1"), COMMUNITY)
    again = await stores.posts.add_question(_question("q1", 5, title="Another title here?"), COMMUNITY)
    assert again.title == first.title == "How do I book leave?"
    stored = await stores.posts.get_question("q1")
    assert stored is not None
    assert (stored.title, stored.tags, stored.answer_count, stored.version) == (first.title, ["hr"], 0, 1)
    assert await stores.posts.get_question("nope") is None


async def test_questions_page_newest_first_without_gaps_and_skip_hidden_kinds(stores: Stores) -> None:
    for i in range(7):
        await stores.posts.add_question(_question(f"q{i}", i), COMMUNITY)
    await stores.posts.add_question(_question("elsewhere", 3, community=OTHER), OTHER)
    article = Question(
        id="a1", community_id="c1", author_id="ann", title="An article", body="b", tags=[],
        create_time=T0 + timedelta(minutes=10), kind="article",
    )  # fmt: skip
    await stores.posts.add_question(article, COMMUNITY)

    ids = await _all_pages(lambda size, token: stores.posts.list_questions("c1", size, token), 3)
    assert ids == [f"q{i}" for i in reversed(range(7))]
    every = await _all_pages(lambda size, token: stores.posts.list_posts("c1", "", size, token), 4)
    assert every == ["a1", *ids]
    articles = await stores.posts.list_posts("c1", "article", 10, "")
    assert [p.id for p in articles.items] == ["a1"]
    with pytest.raises(InvalidArgument):
        await stores.posts.list_questions("c1", 3, "not-a-token")


async def test_answers_are_added_once_counted_and_listed_oldest_first(stores: Stores) -> None:
    question = await stores.posts.add_question(_question("q1"), COMMUNITY)
    await stores.posts.add_answer(_answer(question, "a2", 2), COMMUNITY)
    await stores.posts.add_answer(_answer(question, "a1", 1), COMMUNITY)
    again = await stores.posts.add_answer(_answer(question, "a1", 9, author="cat"), COMMUNITY)
    assert again.author_id == "bob"
    stored = await stores.posts.get_question("q1")
    assert stored is not None
    assert stored.answer_count == 2
    assert [a.id for a in await stores.posts.list_answers("q1", 10)] == ["a1", "a2"]
    assert [a.id for a in await stores.posts.list_answers("q1", 1)] == ["a1"]
    answer = await stores.posts.get_post("a1")
    assert isinstance(answer, Answer)
    assert answer.question_id == "q1"


async def test_acceptance_is_saved_only_from_the_version_read(stores: Stores) -> None:
    await stores.posts.add_question(_question("q1"), COMMUNITY)
    first = await stores.posts.get_question("q1")
    second = await stores.posts.get_question("q1")
    assert first is not None
    assert second is not None
    first.accepted_answer_id = "a1"
    assert await stores.posts.save_acceptance(first, COMMUNITY)
    assert first.version == 2
    second.accepted_answer_id = "a2"
    assert not await stores.posts.save_acceptance(second, COMMUNITY)
    stored = await stores.posts.get_question("q1")
    assert stored is not None
    assert (stored.accepted_answer_id, stored.version) == ("a1", 2)


async def test_votes_move_the_score_by_their_change_and_repeat_as_no_change(stores: Stores) -> None:
    question = await stores.posts.add_question(_question("q1"), COMMUNITY)
    ref = question.ref()
    assert await stores.posts.apply_vote(ref, "bob", 1, T0, COMMUNITY) == (0, 1)
    assert await stores.posts.apply_vote(ref, "bob", 1, T0, COMMUNITY) == (1, 1)
    assert await stores.posts.apply_vote(ref, "cat", -1, T0, COMMUNITY) == (0, 0)
    assert await stores.posts.apply_vote(ref, "bob", -1, T0, COMMUNITY) == (1, -2)
    assert await stores.posts.apply_vote(ref, "bob", 0, T0, COMMUNITY) == (-1, -1)
    stored = await stores.posts.get_question("q1")
    assert stored is not None
    assert stored.score == -1


async def test_comments_are_added_once_and_page_oldest_first_without_hidden_ones(stores: Stores) -> None:
    question = await stores.posts.add_question(_question("q1"), COMMUNITY)
    for i in range(5):
        comment = Comment.post(
            id=f"c{i}", on=question.ref(), author_id="bob", body=f"note {i}", now=T0 + timedelta(minutes=i)
        )
        await stores.posts.add_comment(comment, COMMUNITY)
    again = Comment.post(id="c0", on=question.ref(), author_id="cat", body="other", now=T0)
    assert (await stores.posts.add_comment(again, COMMUNITY)).body == "note 0"
    third = await stores.posts.get_post("c3")
    assert isinstance(third, Comment)
    await stores.moderation.set_state(
        third.ref(), {"hidden": True}, PostLocked(third.ref(), "mod", "x", True, T0), COMMUNITY
    )
    ids = await _all_pages(lambda size, token: stores.posts.list_comments("q1", size, token), 2)
    assert ids == ["c0", "c1", "c2", "c4"]


async def test_edits_are_guarded_by_version_and_keep_the_previous_text(stores: Stores) -> None:
    await stores.posts.add_question(_question("q1"), COMMUNITY)
    for number in (1, 2):
        post = await stores.posts.get_post("q1")
        assert isinstance(post, Question)
        text = Text(f"Booking leave, take {number}", "Body", ["hr", "leave"])
        revision = Revision("q1", number, "ann", T0 + timedelta(minutes=number), post.text)
        event = PostEdited(post.ref(), "ann", number, revision.edit_time)
        assert await stores.posts.save_edit(post, text, revision, [event], COMMUNITY)
        stale = Revision("q1", number, "mod", revision.edit_time, post.text)
        assert not await stores.posts.save_edit(post, Text("Stale title", "", []), stale, [], COMMUNITY)
    stored = await stores.posts.get_question("q1")
    assert stored is not None
    assert (stored.title, stored.tags, stored.edit_count, stored.version) == (
        "Booking leave, take 2",
        ["hr", "leave"],
        2,
        3,
    )
    revisions = await stores.posts.list_revisions("q1", 1, "")
    assert [(r.number, r.text.title) for r in revisions.items] == [(2, "Booking leave, take 1")]
    rest = await stores.posts.list_revisions("q1", 5, revisions.next_token)
    assert [(r.number, r.editor_id, r.text.title) for r in rest.items] == [(1, "ann", "How do I book leave?")]
    assert rest.next_token == ""


async def test_a_post_is_deleted_once_and_a_deleted_answer_leaves_the_count(stores: Stores) -> None:
    question = await stores.posts.add_question(_question("q1"), COMMUNITY)
    answer = await stores.posts.add_answer(_answer(question, "a1"), COMMUNITY)
    removal = PostRemoved(answer.ref(), "bob", "", False, T0)
    assert await stores.posts.mark_deleted(removal, COMMUNITY)
    assert not await stores.posts.mark_deleted(removal, COMMUNITY)
    stored = await stores.posts.get_question("q1")
    assert stored is not None
    assert stored.answer_count == 0
    assert await stores.posts.list_answers("q1", 10) == []
    deleted = await stores.posts.get_post("a1")
    assert deleted is not None
    assert deleted.deleted
    assert await stores.posts.mark_deleted(PostRemoved(question.ref(), "ann", "", False, T0), COMMUNITY)
    assert (await stores.posts.list_questions("c1", 10, "")).items == []
    assert (await stores.posts.get_question("q1")) is not None


async def test_tags_count_over_visible_posts_most_used_first(stores: Stores) -> None:
    await stores.posts.add_question(_question("q1", tags=("hr", "leave")), COMMUNITY)
    await stores.posts.add_question(_question("q2", 1, tags=("hr",)), COMMUNITY)
    await stores.posts.add_question(_question("q3", 2, tags=("it", "hr")), COMMUNITY)
    q4 = await stores.posts.add_question(_question("q4", 3, tags=("it", "zzz")), COMMUNITY)
    await stores.posts.mark_deleted(PostRemoved(q4.ref(), "ann", "", False, T0), COMMUNITY)
    first = await stores.posts.tag_counts("c1", 2, "")
    assert first.items == [("hr", 3), ("it", 1)]
    rest = await stores.posts.tag_counts("c1", 2, first.next_token)
    assert rest.items == [("leave", 1)]
    assert rest.next_token == ""


async def test_search_entries_are_the_visible_posts_having_the_term_newest_first(stores: Stores) -> None:
    await stores.posts.add_question(_question("q1", 0, title="Rota for permits", body="car"), COMMUNITY)
    await stores.posts.add_question(_question("q2", 1, title="Rota at night", body="late"), COMMUNITY)
    q3 = await stores.posts.add_question(
        _question("q3", 2, title="Where to look", body="the rota"), COMMUNITY
    )
    await stores.posts.add_question(_question("q4", 3, title="Rota fees", community=OTHER), OTHER)
    q5 = await stores.posts.add_question(_question("q5", 4, title="Rota gone"), COMMUNITY)
    await stores.posts.mark_deleted(PostRemoved(q5.ref(), "ann", "", False, T0), COMMUNITY)
    await stores.posts.add_answer(_answer(q3, "a1", 5), COMMUNITY)

    entries = await stores.posts.term_entries(["c1"], "rota", 10, None)
    assert [e.id for e in entries] == ["q3", "q2", "q1"]
    assert entries[0].answered
    assert not entries[1].answered
    assert "rota" in entries[0].terms
    assert "rota" not in entries[0].title_terms
    after = (entries[0].create_time, entries[0].id)
    assert [e.id for e in await stores.posts.term_entries(["c1"], "rota", 1, after)] == ["q2"]
    assert [e.id for e in await stores.posts.title_entries(["c1", "c2"], "rota", 10)] == ["q4", "q2", "q1"]
    assert await stores.posts.count_since(["c1"], "rota", T0 + timedelta(minutes=1)) == 2
    found = await stores.posts.visible_posts(["q1", "q5", "q3", "nope", "q1"])
    assert set(found) == {"q1", "q3"}
    assert "rota" in found["q1"].title_terms


async def test_unanswered_questions_page_oldest_first_with_their_hints(stores: Stores) -> None:
    for i in range(4):
        await stores.posts.add_question(
            _question(f"q{i}", i), COMMUNITY, StoredHints(["h"], 0) if i else None
        )
    answered = await stores.posts.get_question("q2")
    assert answered is not None
    await stores.posts.add_answer(_answer(answered, "a1", 5), COMMUNITY)
    before = T0 + timedelta(minutes=3)
    page = await stores.posts.unanswered("c1", before, 1, "")
    assert [w.question.id for w in page.items] == ["q0"]
    assert page.items[0].hints is None
    rest = await stores.posts.unanswered("c1", before, 5, page.next_token)
    assert [(w.question.id, w.hints) for w in rest.items] == [("q1", StoredHints(["h"], 0))]


async def test_hints_are_stored_only_over_the_ones_read_and_the_epoch_logs_changes(stores: Stores) -> None:
    assert await stores.posts.hint_epoch("c1") == 0
    q1 = await stores.posts.add_question(_question("q1"), COMMUNITY)
    await stores.posts.add_question(_question("q2", 1), COMMUNITY)
    assert await stores.posts.hint_epoch("c1") == 0  # nothing answered yet
    await stores.posts.add_answer(_answer(q1, "a1", 2), COMMUNITY)
    await stores.posts.add_answer(_answer(q1, "a2", 3), COMMUNITY)
    assert await stores.posts.hint_epoch("c1") == 1  # the first answer made q1 a possible hint
    assert await stores.posts.hint_changes("c1", 0, 1) == {1: "q1"}

    await stores.posts.store_hints("q2", StoredHints(["q1"], 1), None)
    await stores.posts.store_hints("q2", StoredHints(["zz"], 1), None)  # read before the first: refused
    waiting = (await stores.posts.unanswered("c1", T0 + timedelta(hours=1), 5, "")).items
    assert [(w.question.id, w.hints) for w in waiting] == [("q2", StoredHints(["q1"], 1))]
    await stores.posts.store_hints("q2", StoredHints([], 2), StoredHints(["q1"], 1))
    waiting = (await stores.posts.unanswered("c1", T0 + timedelta(hours=1), 5, "")).items
    assert waiting[0].hints == StoredHints([], 2)

    answer = await stores.posts.get_post("a1")
    assert answer is not None
    await stores.posts.mark_deleted(PostRemoved(answer.ref(), "bob", "", False, T0), COMMUNITY)
    assert await stores.posts.hint_epoch("c1") == 1  # one answer left: still a possible hint
    stored = await stores.posts.get_post("q1")
    assert isinstance(stored, Question)
    revision = Revision("q1", 1, "ann", T0, stored.text)
    assert await stores.posts.save_edit(stored, Text("New title here", "", ["hr"]), revision, [], COMMUNITY)
    assert await stores.posts.hint_epoch("c1") == 2  # an answered question edited
    assert await stores.posts.hint_changes("c1", 0, 2) == {1: "q1", 2: "q1"}
    assert await stores.posts.hint_changes("c1", 2, 2) == {}


# --- moderation --------------------------------------------------------------------------------------


def _flag(post: Question | Answer, member: str, minutes: int = 0, reason: str = "spam") -> Flag:
    return Flag.raise_(
        post=post.ref(), member_id=member, reason=reason, note="", now=T0 + timedelta(minutes=minutes)
    )


async def test_flags_are_counted_once_each_and_hide_at_the_threshold(stores: Stores) -> None:
    question = await stores.posts.add_question(_question("q1"), COMMUNITY)
    assert await stores.moderation.add_flag(_flag(question, "bob"))
    assert not await stores.moderation.add_flag(_flag(question, "bob", 1))
    assert await stores.moderation.count_flags(_flag(question, "bob"), 2, COMMUNITY) == (1, False)
    assert await stores.moderation.add_flag(_flag(question, "cat", 1, "offensive"))
    assert await stores.moderation.count_flags(_flag(question, "cat", 1, "offensive"), 2, COMMUNITY) == (
        2,
        True,
    )
    stored = await stores.posts.get_question("q1")
    assert stored is not None
    assert stored.hidden
    assert (await stores.posts.list_questions("c1", 10, "")).items == []
    queue = await stores.moderation.queue("c1", 10, "")
    assert [(i.post.id, i.flag_count, i.reasons, i.hidden, i.queue_time) for i in queue.items] == [
        ("q1", 2, ["offensive", "spam"], True, T0)
    ]
    assert queue.items[0].excerpt == "How do I book leave?"
    log = await stores.moderation.moderation_log("c1", 10, "")
    assert [(e.action, e.reason) for e in log.items] == [("auto_hide", "flagged by 2 members")]


async def test_moderators_set_state_resolve_and_the_log_pages_newest_first(stores: Stores) -> None:
    q1 = await stores.posts.add_question(_question("q1"), COMMUNITY)
    q2 = await stores.posts.add_question(_question("q2", 1), COMMUNITY)
    for q in (q1, q2):
        await stores.moderation.add_flag(_flag(q, "bob", 2))
        await stores.moderation.count_flags(_flag(q, "bob", 2), 5, COMMUNITY)
    queue = await stores.moderation.queue("c1", 1, "")
    assert [i.post.id for i in queue.items] == ["q1"]
    assert [i.post.id for i in (await stores.moderation.queue("c1", 5, queue.next_token)).items] == ["q2"]

    state = await stores.moderation.set_state(
        q1.ref(), {"locked": True}, PostLocked(q1.ref(), "mod", "heated", True, T0), COMMUNITY
    )
    assert (bool(state.get("locked")), bool(state.get("hidden"))) == (True, False)
    for i, post in enumerate((q1, q2)):
        entry = ModerationEntry(f"e{i}", post.ref(), "lock", "mod", "heated", T0 + timedelta(minutes=10 + i))
        await stores.moderation.resolve(entry, False)
    assert (await stores.moderation.queue("c1", 5, "")).items == []
    log = await stores.moderation.moderation_log("c1", 1, "")
    assert [e.id for e in log.items] == ["e1"]
    assert [e.id for e in (await stores.moderation.moderation_log("c1", 5, log.next_token)).items] == ["e0"]
    stored = await stores.posts.get_question("q1")
    assert stored is not None
    assert stored.locked

    # a flag after the resolution starts a new pending spell at its own time
    await stores.moderation.add_flag(_flag(q1, "cat", 20))
    await stores.moderation.count_flags(_flag(q1, "cat", 20), 5, COMMUNITY)
    again = (await stores.moderation.queue("c1", 5, "")).items
    assert [(i.post.id, i.flag_count, i.queue_time) for i in again] == [("q1", 2, T0 + timedelta(minutes=20))]


# --- membership read model ---------------------------------------------------------------------------


async def test_the_membership_read_model_keeps_the_newest_fact(stores: Stores) -> None:
    directory = stores.directory
    assert await directory.community("c1") is None
    await directory.put_community(COMMUNITY, T0)
    await directory.set_lifecycle("c1", "archived", T0 + timedelta(minutes=2))
    await directory.set_lifecycle("c1", "live", T0 + timedelta(minutes=1))  # older: ignored
    await directory.update_settings("c1", "hidden", 4, T0 + timedelta(minutes=1))
    await directory.update_settings("c1", "open", 9, T0)  # older: ignored
    community = await directory.community("c1")
    assert community is not None
    assert (community.lifecycle, community.visibility, community.flag_threshold) == ("archived", "hidden", 4)

    await directory.put_membership(MembershipView("c1", "ann", Role.MEMBER), T0)
    await directory.set_role("c1", "ann", Role.MODERATOR, T0 + timedelta(minutes=2))
    await directory.set_role("c1", "ann", Role.CURATOR, T0 + timedelta(minutes=1))  # older: ignored
    membership = await directory.membership("c1", "ann")
    assert membership is not None
    assert membership.role == Role.MODERATOR

    await directory.remove_membership("c1", "bob", T0 + timedelta(minutes=5))
    await directory.put_membership(MembershipView("c1", "bob", Role.MEMBER), T0 + timedelta(minutes=4))
    assert await directory.membership("c1", "bob") is None  # a stale join after the leave
    await directory.put_membership(MembershipView("c2", "ann", Role.MEMBER), T0)
    assert await directory.communities_of("ann") == ["c1", "c2"]
    await directory.remove_membership("c2", "ann", T0 + timedelta(minutes=1))
    await directory.remove_membership("c1", "ann", T0 - timedelta(minutes=1))  # before the join: ignored
    assert await directory.communities_of("ann") == ["c1"]
    assert await directory.membership("c2", "ann") is None


# --- resources ---------------------------------------------------------------------------------------


def _resource(rid: str, minutes: int = 0, *, url: str = "", title: str = "Leave policy guide") -> Resource:
    return Resource.share(
        id=rid,
        community_id="c1",
        author_id="ann",
        url=url or f"https://example.com/{rid}",
        title=title,
        summary="How leave works",
        media_type="article",
        tags=["hr"],
        now=T0 + timedelta(minutes=minutes),
    )


async def test_a_url_is_shared_once_per_community(stores: Stores) -> None:
    first, duplicate = await stores.resources.add_resource(
        _resource("r1", url="https://Example.com/a/"), COMMUNITY
    )
    assert (first.url, duplicate) == ("https://example.com/a", False)
    again, duplicate = await stores.resources.add_resource(
        _resource("r1", url="https://example.com/a"), COMMUNITY
    )
    assert (again.id, duplicate) == ("r1", False)  # a retry of the same share
    same_url, duplicate = await stores.resources.add_resource(
        _resource("r2", url="https://example.com/a"), COMMUNITY
    )
    assert (same_url.id, duplicate) == ("r1", True)
    assert await stores.resources.get_resource("r2") is None


async def test_ratings_replace_each_members_earlier_one_and_pages_order_by_rating(stores: Stores) -> None:
    items = [(await stores.resources.add_resource(_resource(f"r{i}", i), COMMUNITY))[0] for i in range(3)]
    assert (await stores.resources.rate(items[0], "bob", 5, "great", T0, COMMUNITY))[0] == 0
    previous, summary = await stores.resources.rate(
        items[0], "bob", 3, "fine", T0 + timedelta(minutes=1), COMMUNITY
    )
    assert (previous, summary.count, summary.average, summary.distribution) == (5, 1, 3.0, (0, 0, 1, 0, 0))
    _, summary = await stores.resources.rate(items[1], "bob", 4, "", T0, COMMUNITY)
    _, summary = await stores.resources.rate(items[1], "cat", 5, "", T0 + timedelta(minutes=2), COMMUNITY)
    assert (summary.count, summary.average) == (2, 4.5)
    top = await stores.resources.list_resources("c1", True, 2, "")
    assert [r.id for r in top.items] == ["r1", "r0"]
    rest = await stores.resources.list_resources("c1", True, 2, top.next_token)
    assert [r.id for r in rest.items] == ["r2"]
    newest = await stores.resources.list_resources("c1", False, 5, "")
    assert [r.id for r in newest.items] == ["r2", "r1", "r0"]
    reviews = await stores.resources.list_reviews("r1", 1, "")
    assert [(r.rater_id, r.stars) for r in reviews.items] == [("cat", 5)]
    more = await stores.resources.list_reviews("r1", 5, reviews.next_token)
    assert [(r.rater_id, r.stars) for r in more.items] == [("bob", 4)]


async def test_outdated_marks_count_once_per_member(stores: Stores) -> None:
    r1, _ = await stores.resources.add_resource(_resource("r1"), COMMUNITY)
    r2, _ = await stores.resources.add_resource(_resource("r2", 1), COMMUNITY)
    await stores.resources.add_resource(_resource("r3", 2), COMMUNITY)
    assert await stores.resources.mark_outdated(r1, "bob", T0, COMMUNITY) == 1
    assert await stores.resources.mark_outdated(r1, "bob", T0, COMMUNITY) == 1
    assert await stores.resources.mark_outdated(r1, "cat", T0, COMMUNITY) == 2
    assert await stores.resources.mark_outdated(r2, "cat", T0, COMMUNITY) == 1
    page = await stores.resources.list_outdated("c1", 1, "")
    assert [(r.id, r.outdated_count) for r in page.items] == [("r1", 2)]
    rest = await stores.resources.list_outdated("c1", 5, page.next_token)
    assert [(r.id, r.outdated_count) for r in rest.items] == [("r2", 1)]


async def test_resource_search_candidates_share_a_term_and_the_tag(stores: Stores) -> None:
    await stores.resources.add_resource(_resource("r1", 0, title="Rota planning"), COMMUNITY)
    await stores.resources.add_resource(_resource("r2", 1, title="Payroll rota"), COMMUNITY)
    await stores.resources.add_resource(_resource("r3", 2, title="Payroll dates"), COMMUNITY)
    found = await stores.resources.search_candidates(["c1"], ["rota", "payroll"], "", 10)
    assert sorted(r.resource.id for r in found) == ["r1", "r2", "r3"]
    newest = await stores.resources.search_candidates(["c1"], ["rota"], "", 1)
    assert [r.resource.id for r in newest] == ["r2"]
    assert "rota" in newest[0].title_terms
    assert await stores.resources.search_candidates(["c1"], ["rota"], "it", 10) == []
    assert await stores.resources.search_candidates(["c2"], ["rota"], "", 10) == []


# --- curation ----------------------------------------------------------------------------------------


def _collection(cid: str, minutes: int = 0) -> Collection:
    return Collection.create(
        id=cid,
        community_id="c1",
        curator_id="cur",
        title=f"Path {cid}",
        description="",
        now=T0 + timedelta(minutes=minutes),
    )


async def test_collections_are_added_once_changed_atomically_and_listed_by_state(stores: Stores) -> None:
    for i in range(3):
        await stores.curation.add_collection(_collection(f"k{i}", i))
    again = await stores.curation.add_collection(replace(_collection("k0"), title="Other"))
    assert again.title == "Path k0"
    item = CollectionItem.new(id="i1", post_id="", url="https://example.com/x", title="X", note="", now=T0)
    changed = await stores.curation.change_collection("k1", lambda c: c.add(item, None, T0), COMMUNITY)
    assert [i.id for i in changed.items] == ["i1"]
    published = await stores.curation.change_collection("k1", lambda c: c.publish(T0), COMMUNITY)
    assert published.published
    with pytest.raises(NotFound):
        await stores.curation.change_collection("nope", lambda c: c.publish(T0), COMMUNITY)
    drafts = await stores.curation.list_collections("c1", False, 1, "")
    assert [c.id for c in drafts.items] == ["k2"]
    assert [
        c.id for c in (await stores.curation.list_collections("c1", False, 5, drafts.next_token)).items
    ] == ["k0"]
    assert [c.id for c in (await stores.curation.list_collections("c1", True, 5, "")).items] == ["k1"]
    stored = await stores.curation.get_collection("k1")
    assert stored is not None
    assert [(i.id, i.position) for i in stored.items] == [("i1", 0)]


async def test_follows_count_once_and_unfollows_give_back(stores: Stores) -> None:
    collection = await stores.curation.add_collection(_collection("k1"))
    assert await stores.curation.set_following(collection, "bob", True, T0, COMMUNITY) == 1
    assert await stores.curation.set_following(collection, "bob", True, T0, COMMUNITY) == 1
    assert await stores.curation.set_following(collection, "cat", True, T0, COMMUNITY) == 2
    assert await stores.curation.is_following("k1", "bob")
    assert await stores.curation.set_following(collection, "bob", False, T0, COMMUNITY) == 1
    assert await stores.curation.set_following(collection, "bob", False, T0, COMMUNITY) == 1
    assert not await stores.curation.is_following("k1", "bob")
    stored = await stores.curation.get_collection("k1")
    assert stored is not None
    assert stored.follower_count == 1


async def test_features_are_on_once_and_off_once(stores: Stores) -> None:
    for i in range(3):
        feature = Feature("c1", "post", f"q{i}", f"Q{i}", "ann", "cur", T0 + timedelta(minutes=i))
        assert (await stores.curation.feature(feature, COMMUNITY)).feature_time == feature.feature_time
    later = Feature("c1", "post", "q0", "Q0", "ann", "mod", T0 + timedelta(hours=1))
    assert (await stores.curation.feature(later, COMMUNITY)).featured_by == "cur"  # on already
    page = await stores.curation.list_features("c1", 2, "")
    assert [f.item_id for f in page.items] == ["q2", "q1"]
    assert [f.item_id for f in (await stores.curation.list_features("c1", 2, page.next_token)).items] == [
        "q0"
    ]
    assert await stores.curation.unfeature("c1:post:q1")
    assert not await stores.curation.unfeature("c1:post:q1")
    assert await stores.curation.feature(replace(later, item_id="q1"), COMMUNITY)
    assert [f.featured_by for f in (await stores.curation.list_features("c1", 5, "")).items] == [
        "mod",
        "cur",
        "cur",
    ]


async def test_a_duplicate_mark_is_written_once_and_taken_back_only_as_named(stores: Stores) -> None:
    question = await stores.posts.add_question(_question("q2", 1), COMMUNITY)
    mark = DuplicateMarked(question, "q1", "cur", True, T0)
    assert await stores.curation.mark_duplicate(mark, COMMUNITY) == "q1"
    assert await stores.curation.mark_duplicate(replace(mark, duplicate_of="q0"), COMMUNITY) == "q1"
    assert await stores.curation.mark_duplicate(replace(mark, question=_question("gone")), COMMUNITY) == ""
    stored = await stores.posts.get_question("q2")
    assert stored is not None
    assert (stored.duplicate_of, stored.version) == ("q1", 2)
    assert not await stores.curation.unmark_duplicate(
        replace(mark, duplicate_of="q0", marked=False), COMMUNITY
    )
    assert await stores.curation.unmark_duplicate(replace(mark, marked=False), COMMUNITY)
    stored = await stores.posts.get_question("q2")
    assert stored is not None
    assert stored.duplicate_of == ""


# --- feeds -------------------------------------------------------------------------------------------


async def test_feed_sources_page_by_key_then_id_over_visible_posts(stores: Stores) -> None:
    for i in range(4):
        await stores.posts.add_question(_question(f"q{i}", i, tags=("hr",) if i % 2 else ("it",)), COMMUNITY)
    await stores.posts.add_question(
        _question("other", 9, community=OTHER, author="bob", tags=("pay",)), OTHER
    )
    q3 = await stores.posts.get_question("q3")
    assert q3 is not None
    await stores.posts.mark_deleted(PostRemoved(q3.ref(), "ann", "", False, T0), COMMUNITY)
    q0 = await stores.posts.get_question("q0")
    assert q0 is not None
    await stores.posts.add_answer(_answer(q0, "a1", 30), COMMUNITY)
    await stores.posts.apply_vote(q0.ref(), "bob", 1, T0, COMMUNITY)
    await stores.resources.add_resource(_resource("r1", 5), COMMUNITY)

    newest = FeedQuery("posts", "create_time", ("c1",))
    first = await stores.feeds.feed_page(newest, None, 2)
    assert [e.id for e in first] == ["q2", "q1"]
    assert [e.id for e in await stores.feeds.feed_page(newest, (first[-1].key, first[-1].id), 5)] == ["q0"]
    activity = await stores.feeds.feed_page(FeedQuery("posts", "activity_time", ("c1",)), None, 5)
    assert [e.id for e in activity] == ["q0", "q2", "q1"]
    assert activity[0].activity_time == T0 + timedelta(minutes=30)
    top = await stores.feeds.feed_page(FeedQuery("posts", "score", ("c1",)), None, 1)
    assert [(e.id, e.key) for e in top] == [("q0", 1)]
    tagged = await stores.feeds.feed_page(FeedQuery("posts", "create_time", tags=("hr",)), None, 5)
    assert [e.id for e in tagged] == ["q1"]
    by_people = await stores.feeds.feed_page(FeedQuery("posts", "create_time", author_ids=("bob",)), None, 5)
    assert [e.id for e in by_people] == ["other"]
    since = FeedQuery("posts", "create_time", ("c1",), since=T0 + timedelta(minutes=1))
    assert [e.id for e in await stores.feeds.feed_page(since, None, 5)] == ["q2", "q1"]
    resources = await stores.feeds.feed_page(FeedQuery("resources", "create_time", ("c1",)), None, 5)
    assert [(e.id, e.resource is not None, e.post) for e in resources] == [("r1", True, None)]


async def test_tag_follows_are_recorded_once_and_bounded(stores: Stores) -> None:
    assert await stores.feeds.follow_tag("ann", "hr", T0, limit=2) == "followed"
    assert await stores.feeds.follow_tag("ann", "hr", T0, limit=2) == "already"
    assert await stores.feeds.follow_tag("ann", "it", T0, limit=2) == "followed"
    assert await stores.feeds.follow_tag("ann", "pay", T0, limit=2) == "full"
    assert await stores.feeds.follows_tag("ann", "it")
    page = await stores.feeds.followed_tags("ann", 1, "")
    assert page.items == ["hr"]
    assert (await stores.feeds.followed_tags("ann", 5, page.next_token)).items == ["it"]
    assert await stores.feeds.unfollow_tag("ann", "hr", T0)
    assert not await stores.feeds.unfollow_tag("ann", "hr", T0)
    assert await stores.feeds.follow_tag("ann", "pay", T0, limit=2) == "followed"
    assert (await stores.feeds.followed_tags("ann", 5, "")).items == ["it", "pay"]


async def test_person_follows_keep_the_latest_fact(stores: Stores) -> None:
    await stores.feeds.set_person_follow("ann", "bob", True, T0)
    await stores.feeds.set_person_follow("ann", "cat", True, T0)
    await stores.feeds.set_person_follow("ann", "bob", False, T0 + timedelta(minutes=2))
    await stores.feeds.set_person_follow("ann", "bob", True, T0 + timedelta(minutes=1))  # older: ignored
    assert await stores.feeds.followees("ann", 10) == ["cat"]
    await stores.feeds.set_person_follow("ann", "bob", True, T0 + timedelta(minutes=3))
    assert sorted(await stores.feeds.followees("ann", 10)) == ["bob", "cat"]


# --- events ------------------------------------------------------------------------------------------


async def test_each_write_queues_the_same_events_on_both(stores: Stores) -> None:
    question = await stores.posts.add_question(_question("q1", tags=("hr",)), COMMUNITY)
    answer = await stores.posts.add_answer(_answer(question, "a1"), COMMUNITY)
    await stores.posts.add_answer(_answer(question, "a1"), COMMUNITY)  # a retry queues nothing
    stored = await stores.posts.get_question("q1")
    assert stored is not None
    stored.accept(answer, MembershipView("c1", "ann", Role.MEMBER), previous_author_id="", now=T0)
    assert await stores.posts.save_acceptance(stored, COMMUNITY)
    await stores.posts.apply_vote(answer.ref(), "cat", 1, T0, COMMUNITY, question_tags=("hr",))
    await stores.posts.apply_vote(answer.ref(), "cat", 1, T0, COMMUNITY)  # no change: no event
    comment = Comment.post(id="c1", on=question.ref(), author_id="bob", body="Thanks", now=T0)
    await stores.posts.add_comment(comment, COMMUNITY)
    post = await stores.posts.get_post("q1")
    assert isinstance(post, Question)
    revision = Revision("q1", 1, "ann", T0, post.text)
    edited = PostEdited(post.ref(), "ann", 1, T0)
    assert await stores.posts.save_edit(
        post, Text("Booking leave?", "", ["hr"]), revision, [edited], COMMUNITY
    )
    for member in ("bob", "cat"):
        await stores.moderation.add_flag(_flag(question, member))
        await stores.moderation.count_flags(_flag(question, member), 2, COMMUNITY)
    lock = PostLocked(answer.ref(), "mod", "heated", True, T0)
    await stores.moderation.set_state(answer.ref(), {"locked": True}, lock, COMMUNITY)
    await stores.posts.mark_deleted(PostRemoved(comment.ref(), "bob", "", False, T0), COMMUNITY)
    await stores.posts.mark_deleted(PostRemoved(comment.ref(), "bob", "", False, T0), COMMUNITY)

    resource, _ = await stores.resources.add_resource(_resource("r1"), COMMUNITY)
    await stores.resources.add_resource(_resource("r1"), COMMUNITY)
    await stores.resources.rate(resource, "bob", 4, "", T0, COMMUNITY)
    await stores.resources.mark_outdated(resource, "bob", T0, COMMUNITY)
    await stores.resources.mark_outdated(resource, "bob", T0, COMMUNITY)

    collection = await stores.curation.add_collection(_collection("k1"))
    item = CollectionItem.new(id="i1", post_id="q1", url="", title="Q", note="", now=T0)
    await stores.curation.change_collection("k1", lambda c: c.add(item, None, T0), COMMUNITY)
    published = await stores.curation.change_collection("k1", lambda c: c.publish(T0), COMMUNITY)
    await stores.curation.change_collection("k1", lambda c: c.publish(T0), COMMUNITY)
    await stores.curation.set_following(published, "bob", True, T0, COMMUNITY)
    await stores.curation.set_following(published, "bob", True, T0, COMMUNITY)
    feature = Feature("c1", "collection", collection.id, "Path", "cur", "cur", T0)
    feature.events.append(ItemFeatured(feature))
    await stores.curation.feature(feature, COMMUNITY)
    later = await stores.posts.add_question(_question("q2", 5), COMMUNITY)
    await stores.curation.mark_duplicate(DuplicateMarked(later, "q1", "cur", True, T0), COMMUNITY)
    await stores.curation.unmark_duplicate(DuplicateMarked(later, "q1", "cur", False, T0), COMMUNITY)

    await stores.feeds.follow_tag("ann", "hr", T0, limit=5)
    await stores.feeds.follow_tag("ann", "hr", T0, limit=5)
    await stores.feeds.unfollow_tag("ann", "hr", T0 + timedelta(minutes=1))
    await stores.feeds.unfollow_tag("ann", "hr", T0 + timedelta(minutes=1))

    names = [
        "question_asked",
        "answer_posted",
        "answer_accepted",
        "vote_changed",
        "comment_posted",
        "post_edited",
        "post_flagged",
        "post_flagged",
        "post_hidden",
        "post_locked",
        "post_removed",
        "resource_shared",
        "item_rated",
        "item_marked_outdated",
        "collection_published",
        "collection_followed",
        "item_featured",
        "question_asked",
        "question_marked_duplicate",
        "question_unmarked_duplicate",
        "tag_followed",
        "tag_unfollowed",
    ]
    assert await stores.queued_types() == sorted(f"guild.content.{n}.v1" for n in names)

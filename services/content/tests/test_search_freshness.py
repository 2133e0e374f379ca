"""Search documents and stored similar-question hints follow every write, and are read from indexes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from guild.community.v1 import community_service_pb2 as community_api
from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import question_pb2 as pb
from guild.events.v1 import community_events_pb2 as community_events
from guild_common.mongo import Document
from guild_content.adapters.search_store import POST_SEARCH, SearchIndex, SearchIndexer
from guild_testing.fixtures import auth

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase
    from services.content.tests.conftest import Suite


async def _found(suite: Suite, query: str, **kw: Any) -> list[str]:
    response: api.SearchQuestionsResponse = await suite.content.SearchQuestions(
        api.SearchQuestionsRequest(query=query, community_id=suite.community_id, **kw), metadata=auth("ann")
    )
    return [h.question.id for h in response.hits]


async def _posts_found(suite: Suite, query: str) -> list[str]:
    response: api.SearchPostsResponse = await suite.content.SearchPosts(
        api.SearchPostsRequest(query=query, community_id=suite.community_id), metadata=auth("ann")
    )
    return [h.post.id for h in response.hits]


async def _similar(suite: Suite, title: str) -> list[str]:
    response: api.FindSimilarQuestionsResponse = await suite.content.FindSimilarQuestions(
        api.FindSimilarQuestionsRequest(community_id=suite.community_id, title=title), metadata=auth("ann")
    )
    return [h.question.id for h in response.hits]


async def _moderate(suite: Suite, post_id: str, action: int) -> None:
    await suite.content.ModeratePost(
        api.ModeratePostRequest(post_id=post_id, action=action, reason="reviewed"),  # type: ignore[arg-type]
        metadata=auth("olivia"),
    )


def _db(suite: Suite) -> AsyncDatabase[Document]:
    db: AsyncDatabase[Document] = suite.content_service.app.infra.db
    return db


async def test_search_follows_hiding_restoring_flags_answers_and_deletes(suite: Suite) -> None:
    for person in ("carl", "dave", "erin"):
        await suite.community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=suite.community_id), metadata=auth(person)
        )
    first = await suite.ask("ann", title="Mentor programme sign-up")
    second = await suite.ask("bob", title="Mentor lunch on Fridays")
    assert await _found(suite, "mentor") == [second.id, first.id]

    await _moderate(suite, first.id, api.MODERATION_ACTION_HIDE)
    assert await _found(suite, "mentor") == [second.id]
    assert await _posts_found(suite, "mentor") == [second.id]
    assert await _similar(suite, "mentor programme") == [second.id]
    await _moderate(suite, first.id, api.MODERATION_ACTION_RESTORE)
    assert await _found(suite, "mentor") == [second.id, first.id]

    for person in ("carl", "dave", "erin"):  # the third flag hides it
        await suite.content.FlagPost(
            api.FlagPostRequest(post_id=second.id, reason=api.FLAG_REASON_SPAM), metadata=auth(person)
        )
    assert await _found(suite, "mentor") == [first.id]

    answer = await suite.answer(first.id, "bob")
    answered = api.ANSWERED_FILTER_ANSWERED
    assert await _found(suite, "mentor", answered=answered) == [first.id]
    await suite.content.DeletePost(api.DeletePostRequest(post_id=answer.id), metadata=auth("bob"))
    assert await _found(suite, "mentor", answered=answered) == []
    assert await _found(suite, "mentor", answered=api.ANSWERED_FILTER_UNANSWERED) == [first.id]

    await suite.content.DeletePost(api.DeletePostRequest(post_id=first.id), metadata=auth("ann"))
    assert await _found(suite, "mentor") == []
    # Nothing is left marked: every write brought its search document up to date itself.
    assert await _db(suite).questions.count_documents({"search_pending": True}) == 0


async def _champion(suite: Suite, member: str) -> None:
    await suite.publish_community_event(
        "role_granted",
        community_events.RoleGranted(community_id=suite.community_id, member_id=member, role="champion"),
        subject=suite.community_id,
    )
    await suite.settle_community_events()


async def _queue(suite: Suite) -> dict[str, list[str]]:
    response: api.ListUnansweredQuestionsResponse = await suite.content.ListUnansweredQuestions(
        api.ListUnansweredQuestionsRequest(community_id=suite.community_id, min_age_minutes=60),
        metadata=auth("bob"),
    )
    return {i.question.id: [h.question.id for h in i.similar] for i in response.items}


async def _age(suite: Suite, *question_ids: str) -> None:
    aged = datetime.now(UTC) - timedelta(hours=2)
    for question_id in question_ids:
        await _db(suite).questions.update_one({"_id": question_id}, {"$set": {"create_time": aged}})


async def _answered(suite: Suite, title: str) -> pb.Question:
    """A question of bob's that olivia answered."""
    question = await suite.ask("bob", title=title)
    await suite.answer(question.id, "olivia")
    return question


async def _stored(db: AsyncDatabase[Document], question_id: str) -> Document:
    doc = await db.questions.find_one({"_id": question_id})
    assert doc is not None
    return doc


async def test_hints_are_stored_when_asked_and_follow_later_answers_edits_and_removals(suite: Suite) -> None:
    await _champion(suite, "bob")
    db = _db(suite)
    payroll = await _answered(suite, "Payroll dates for December")
    # Asked after a similar answered question: its hints are computed and stored as it is asked.
    late = await suite.ask("ann", title="When is December payroll paid?")
    assert (await _stored(db, late.id))["hints"] == [payroll.id]
    # Asked before the similar question it gets as a hint was answered.
    early = await suite.ask("ann", title="Payroll slips for contractors")
    contractors = await suite.ask("bob", title="Contractors payroll slips, where?")
    await _age(suite, late.id, early.id)
    assert await _queue(suite) == {late.id: [payroll.id], early.id: [payroll.id]}
    await suite.answer(contractors.id, "olivia")
    assert await _queue(suite) == {
        late.id: [payroll.id, contractors.id],
        early.id: [contractors.id, payroll.id],
    }

    # A hint that goes (deleted, hidden) or no longer matches (edited) leaves the hints.
    await suite.content.DeletePost(api.DeletePostRequest(post_id=contractors.id), metadata=auth("bob"))
    assert await _queue(suite) == {late.id: [payroll.id], early.id: [payroll.id]}
    await _moderate(suite, payroll.id, api.MODERATION_ACTION_HIDE)
    assert await _queue(suite) == {late.id: [], early.id: []}
    await _moderate(suite, payroll.id, api.MODERATION_ACTION_RESTORE)
    assert await _queue(suite) == {late.id: [payroll.id], early.id: [payroll.id]}
    await suite.content.EditPost(
        api.EditPostRequest(post_id=payroll.id, title="Canteen menu", update_mask=FieldMask(paths=["title"])),
        metadata=auth("bob"),
    )
    assert await _queue(suite) == {late.id: [], early.id: []}
    # The waiting question's own edit: its hints are of its new title.
    canteen = await _answered(suite, "Canteen menu for contractors")
    await suite.content.EditPost(
        api.EditPostRequest(
            post_id=late.id, title="Canteen menu changes", update_mask=FieldMask(paths=["title"])
        ),
        metadata=auth("ann"),
    )
    queue = await _queue(suite)
    assert queue[late.id] == [canteen.id, payroll.id]
    assert queue[early.id] == [canteen.id]


async def test_hints_of_questions_stored_without_them_are_filled_on_read(suite: Suite) -> None:
    await _champion(suite, "bob")
    db = _db(suite)
    answered = await _answered(suite, "Parking permits for visitors")
    legacy = await suite.ask("bob", title="Visitor parking permits")
    await db.questions.update_one({"_id": legacy.id}, {"$unset": {"hints": "", "hints_epoch": ""}})
    await _age(suite, legacy.id)
    assert await _queue(suite) == {legacy.id: [answered.id]}
    assert (await _stored(db, legacy.id))["hints"] == [answered.id]


async def test_a_search_document_left_behind_is_rewritten_and_never_goes_back(suite: Suite) -> None:
    db = _db(suite)
    question = await suite.ask("ann", title="Laptop docking stations")
    before = await db.questions.find_one({"_id": question.id})
    assert before is not None
    # The post was written (hidden, marked) and the process stopped before its search document was.
    await db.questions.update_one(
        {"_id": question.id}, {"$set": {"hidden": True, "search_pending": True}, "$inc": {"search_seq": 1}}
    )
    assert await _found(suite, "laptop") == []  # the page's posts are read and checked
    indexer = SearchIndexer(SearchIndex(db))
    assert await indexer.sweep() is False
    search = await db[POST_SEARCH].find_one({"_id": question.id})
    assert search is not None
    assert (search["terms"], search["visible"]) == ([], False)
    assert await db.questions.count_documents({"search_pending": True}) == 0

    # A late writer holding an older state of the post does not bring the old terms back.
    await SearchIndex(db).sync(before)
    search = await db[POST_SEARCH].find_one({"_id": question.id})
    assert search is not None
    assert search["terms"] == []


async def _plan(db: AsyncDatabase[Document], command: Document) -> Document:
    reply: Document = await db.command("explain", command)
    return reply


async def test_search_and_queue_reads_are_served_by_indexes(suite: Suite) -> None:
    db = _db(suite)
    question = await suite.ask("ann", title="Laptop docking stations")
    await _found(suite, "laptop")
    for field, limit in (("terms", 200), ("title", 27)):  # a term's candidates, a word's titles
        lookup = await _plan(
            db,
            {
                "find": POST_SEARCH,
                "filter": {field: "laptop", "community_id": {"$in": [suite.community_id]}},
                "sort": {"create_time": -1, "_id": -1},
                "limit": limit,
            },
        )
        assert "INDEX" in str(lookup["queryPlanner"])
        assert lookup.get("sortPushdown"), lookup
        assert lookup.get("limitPushdown"), lookup
    # How many posts with the word are as new as a page of title matches (count_documents' pipeline).
    since = {
        "terms": "laptop",
        "community_id": {"$in": [suite.community_id]},
        "create_time": {"$gte": datetime.now(UTC) - timedelta(days=1)},
    }
    count = await _plan(
        db,
        {
            "aggregate": POST_SEARCH,
            "pipeline": [{"$match": since}, {"$group": {"_id": 1, "n": {"$sum": 1}}}],
            "cursor": {},
        },
    )
    assert "INDEX" in str(count["queryPlanner"])
    assert count.get("filterPushdown"), count
    page = await _plan(
        db,
        {
            "find": "questions",
            "filter": {"_id": {"$in": [question.id]}, "deleted": {"$ne": True}, "hidden": {"$ne": True}},
        },
    )
    assert "INDEX" in str(page["queryPlanner"])
    pending = await _plan(db, {"find": "questions", "filter": {"search_pending": True}, "limit": 200})
    assert "INDEX" in str(pending["queryPlanner"])
    queue = await _plan(
        db,
        {
            "find": "questions",
            "filter": {
                "community_id": suite.community_id,
                "answer_count": 0,
                "create_time": {"$lt": datetime.now(UTC)},
                "kind": {"$nin": ["discussion", "article", "announcement"]},
                "deleted": {"$ne": True},
                "hidden": {"$ne": True},
            },
            "sort": {"create_time": 1, "_id": 1},
            "limit": 21,
        },
    )
    assert "INDEX" in str(queue["queryPlanner"])
    assert queue.get("sortPushdown"), queue


async def test_hints_are_computed_again_when_the_change_log_has_a_gap(suite: Suite) -> None:
    await _champion(suite, "bob")
    db = _db(suite)
    waiting = await suite.ask("ann", title="Relocation allowance rules")
    await _age(suite, waiting.id)
    assert await _queue(suite) == {waiting.id: []}
    answered = await _answered(suite, "Relocation allowance for graduates")
    # The epoch moved for the answer, and its writer stopped before logging which post it was for.
    epoch = await db.hint_epochs.find_one({"_id": suite.community_id})
    assert epoch is not None
    await db.hint_changes.delete_one({"_id": f"{suite.community_id}:{epoch['epoch']}"})
    assert await _queue(suite) == {waiting.id: [answered.id]}


async def test_the_queue_tells_an_unknown_community_from_a_non_member(suite: Suite) -> None:
    for community_id, who, expected in (
        ("no-such-community", "bob", (grpc.StatusCode.NOT_FOUND, "COMMUNITY_NOT_FOUND")),
        (suite.community_id, "carl", (grpc.StatusCode.PERMISSION_DENIED, "NOT_A_MEMBER")),
        (suite.community_id, "bob", (grpc.StatusCode.PERMISSION_DENIED, "NOT_A_CHAMPION")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await suite.content.ListUnansweredQuestions(
                api.ListUnansweredQuestionsRequest(community_id=community_id), metadata=auth(who)
            )
        assert (caught.value.code(), suite.reason(caught.value)[0]) == expected

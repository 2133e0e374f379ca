"""Questions meaning the same: suggested when asked and in the unanswered queue; curators mark duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import pytest

from guild.community.v1 import community_pb2
from guild.community.v1 import community_service_pb2 as community_api
from guild.content.v1 import content_service_pb2 as api
from guild.events.v1 import content_events_pb2 as events
from guild_content.adapters.embedding_model import WordLlamaEmbedder
from guild_content.adapters.meaning_backfill_worker import MeaningBackfill
from guild_content.adapters.question_documents import question_document
from guild_content.adapters.search_store import search_document
from guild_content.domain.questions import Question
from guild_content.domain.similarity import DIM, TABLES, THRESHOLD
from guild_testing.fixtures import auth

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite

# Two questions in other words (no title word in common), and a third on another subject.
MILEAGE = ("How do I claim mileage for driving to a client?", "I used my own car for a customer visit.")
REWORDED = ("Can I get reimbursed for using my car on sales trips?", "Drove to see a customer yesterday.")


async def _ask(
    suite: Suite, who: str, text: tuple[str, str], community_id: str = ""
) -> api.AskQuestionResponse:
    community_id = community_id or suite.community_id
    response: api.AskQuestionResponse = await suite.content.AskQuestion(
        api.AskQuestionRequest(
            community_id=community_id, title=text[0], body=text[1], request_id=f"{community_id}:{text[0]}"
        ),
        metadata=auth(who),
    )
    return response


async def _community(suite: Suite, slug: str, visibility: community_pb2.Visibility.ValueType) -> str:
    created = await suite.community.CreateCommunity(
        community_api.CreateCommunityRequest(
            name=slug.title(), slug=slug, programme="induction", region="emea", visibility=visibility
        ),
        metadata=auth("olivia"),
    )
    return str(created.community.id)


async def _mark(
    suite: Suite, question_id: str, duplicate_of: str, who: str = "olivia"
) -> api.MarkDuplicateResponse:
    response: api.MarkDuplicateResponse = await suite.content.MarkDuplicate(
        api.MarkDuplicateRequest(question_id=question_id, duplicate_of=duplicate_of), metadata=auth(who)
    )
    return response


async def _refused(
    suite: Suite, question_id: str, duplicate_of: str, who: str = "olivia"
) -> tuple[grpc.StatusCode, str, set[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _mark(suite, question_id, duplicate_of, who)
    reason, violations = suite.reason(caught.value)
    return caught.value.code(), reason, set(violations)


async def test_a_question_in_other_words_gets_the_earlier_one_suggested(suite: Suite) -> None:
    first = (await _ask(suite, "ann", MILEAGE)).question
    asked = await _ask(suite, "bob", REWORDED)
    assert [h.question.id for h in asked.similar] == [first.id]
    hit = asked.similar[0]
    assert hit.similarity >= THRESHOLD
    assert (hit.relevance, list(hit.matched_terms)) == (0, [])
    # Asking again with the same request id returns the question and the same suggestion, not itself.
    again = await _ask(suite, "bob", REWORDED)
    assert again.question.id == asked.question.id
    assert [h.question.id for h in again.similar] == [first.id]

    # In the unanswered queue, the later question shows the earlier one as meaning the same.
    db = suite.content_service.app.infra.db
    now = datetime.now(UTC)
    for question_id, hours in ((first.id, 50), (asked.question.id, 49)):
        await db.questions.update_one(
            {"_id": question_id}, {"$set": {"create_time": now - timedelta(hours=hours)}}
        )
    queue = await suite.content.ListUnansweredQuestions(
        api.ListUnansweredQuestionsRequest(community_id=suite.community_id), metadata=auth("olivia")
    )
    found = {i.question.id: [h.question.id for h in i.same_meaning] for i in queue.items}
    assert found == {first.id: [], asked.question.id: [first.id]}

    # An edit gives the question the vector and keys of its new text; what it was found like stays.
    before = await db.post_search.find_one({"_id": first.id})
    await suite.content.EditPost(
        api.EditPostRequest(post_id=first.id, title="Canteen opening hours", body="Is it open at weekends?"),
        metadata=auth("ann"),
    )
    after = await db.post_search.find_one({"_id": first.id})
    assert before is not None
    assert after is not None
    assert (after["vec"], after["sim_keys"]) != (before["vec"], before["sim_keys"])
    assert len(after["sim_keys"]) == len(before["sim_keys"])


async def test_only_visible_questions_of_the_same_community_are_suggested(suite: Suite) -> None:
    other = await _community(suite, "sales-team", community_pb2.VISIBILITY_OPEN)
    secret = await _community(suite, "secret", community_pb2.VISIBILITY_HIDDEN)
    for community_id in (other, secret):
        await _ask(suite, "olivia", MILEAGE, community_id)
    hidden = (await _ask(suite, "olivia", MILEAGE)).question
    await suite.content.ModeratePost(
        api.ModeratePostRequest(
            post_id=hidden.id, action=api.MODERATION_ACTION_HIDE, reason="Duplicate post"
        ),
        metadata=auth("olivia"),
    )
    asked = await _ask(suite, "ann", REWORDED)
    assert list(asked.similar) == []

    # Restored, it is suggested again; in the other communities the same question finds its own.
    await suite.content.ModeratePost(
        api.ModeratePostRequest(post_id=hidden.id, action=api.MODERATION_ACTION_RESTORE, reason="Fine"),
        metadata=auth("olivia"),
    )
    again = await _ask(suite, "bob", (REWORDED[0] + "?", REWORDED[1]))
    assert [h.question.id for h in again.similar] == [asked.question.id, hidden.id]
    elsewhere = await _ask(suite, "olivia", REWORDED, other)
    assert all(h.question.community_id == other for h in elsewhere.similar)
    assert len(elsewhere.similar) == 1


async def test_curators_mark_a_later_question_a_duplicate_of_the_earliest(suite: Suite) -> None:
    first = (await _ask(suite, "ann", MILEAGE)).question
    lone = (await _ask(suite, "bob", ("Where is the canteen?", "Lunch"))).question
    second = (await _ask(suite, "bob", REWORDED)).question
    third = (await _ask(suite, "ann", ("Mileage for customer visits?", "Same as the others"))).question
    fourth = (await _ask(suite, "bob", ("Who signs off my car travel?", "A client trip."))).question
    other = await _community(suite, "sales-team", community_pb2.VISIBILITY_OPEN)
    elsewhere = (
        await _ask(suite, "olivia", ("Travel by car to customers", "Earlier, elsewhere"), other)
    ).question

    assert await _refused(suite, second.id, first.id, "bob") == (
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_A_CURATOR",
        set(),
    )
    code, _, fields = await _refused(suite, "", "")
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, {"question_id", "duplicate_of"})
    code, _, fields = await _refused(suite, second.id, "x" * 129)
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, {"duplicate_of"})
    code, _, fields = await _refused(suite, second.id, second.id)
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, {"duplicate_of"})
    assert (await _refused(suite, second.id, "no-such-question"))[:2] == (
        grpc.StatusCode.NOT_FOUND,
        "QUESTION_NOT_FOUND",
    )
    assert (await _refused(suite, first.id, second.id))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "NOT_EARLIER",
    )
    assert (await _refused(suite, second.id, elsewhere.id))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "OTHER_COMMUNITY",
    )
    secret = await _community(suite, "secret", community_pb2.VISIBILITY_HIDDEN)
    hidden = (await _ask(suite, "olivia", MILEAGE, secret)).question
    later = (await _ask(suite, "olivia", REWORDED, secret)).question
    # To anyone outside it, a hidden community's questions do not exist; a member must be a curator.
    assert (await _refused(suite, later.id, hidden.id, "ann"))[:2] == (
        grpc.StatusCode.NOT_FOUND,
        "COMMUNITY_NOT_FOUND",
    )

    marked = (await _mark(suite, second.id, first.id)).question
    assert marked.duplicate_of == first.id
    assert (await _mark(suite, second.id, first.id)).question.duplicate_of == first.id  # again: no change
    assert (await suite.get(second.id)).question.duplicate_of == first.id
    # Pointed at a duplicate, a question points to the earliest of its chain.
    assert (await _mark(suite, third.id, second.id)).question.duplicate_of == first.id
    await _mark(suite, fourth.id, third.id)
    assert (await suite.get(fourth.id)).question.duplicate_of == first.id
    assert (await _refused(suite, fourth.id, lone.id))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "ALREADY_MARKED",
    )

    # Marked otherwise, it must be unmarked first; unmarking twice changes nothing.
    unmarked = await suite.content.UnmarkDuplicate(
        api.UnmarkDuplicateRequest(question_id=fourth.id), metadata=auth("olivia")
    )
    assert unmarked.question.duplicate_of == ""
    await suite.content.UnmarkDuplicate(
        api.UnmarkDuplicateRequest(question_id=fourth.id), metadata=auth("olivia")
    )
    await _mark(suite, fourth.id, third.id)
    assert (await suite.get(fourth.id)).question.duplicate_of == first.id

    prefix = "guild.emea.induction.content."
    received = await suite.content_events(4, subject=prefix + "question_marked_duplicate")
    taken_back = await suite.content_events(1, subject=prefix + "question_unmarked_duplicate")
    assert [e.type for e in received] == ["guild.content.question_marked_duplicate.v1"] * 4
    assert [e.type for e in taken_back] == ["guild.content.question_unmarked_duplicate.v1"]
    payload = received[0].payload(events.QuestionMarkedDuplicate)
    assert (payload.question_id, payload.duplicate_of, payload.author_id, payload.marked_by) == (
        second.id,
        first.id,
        "bob",
        "olivia",
    )
    assert payload.community_id == suite.community_id
    assert taken_back[0].payload(events.QuestionUnmarkedDuplicate).unmarked_by == "olivia"


async def test_questions_stored_before_vectors_get_them_in_the_background(suite: Suite) -> None:
    db = suite.content_service.app.infra.db
    old = Question.ask(
        id="stored-before-vectors",
        community_id=suite.community_id,
        author_id="ann",
        title=MILEAGE[0],
        body=MILEAGE[1],
        tags=[],
        now=datetime.now(UTC) - timedelta(days=400),
    )
    doc = question_document(old)
    await db.questions.insert_one(doc)
    await db.post_search.insert_one({"_id": old.id, **search_document(doc)})
    assert list((await _ask(suite, "bob", REWORDED)).similar) == []

    await db.backfills.delete_many({})
    backfill = MeaningBackfill(db, WordLlamaEmbedder())
    while await backfill.sweep():
        pass
    assert backfill.written == 1
    stored = await db.post_search.find_one({"_id": old.id})
    assert stored is not None
    assert len(stored["vec"]) == DIM
    assert len(stored["sim_keys"]) == TABLES
    asked = await _ask(suite, "bob", (REWORDED[0] + "?", REWORDED[1]))
    assert old.id in [h.question.id for h in asked.similar]
    # Once done, later starts skip the pass.
    assert await MeaningBackfill(db, WordLlamaEmbedder()).sweep() is False

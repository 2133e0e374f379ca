"""Keyword search over the normalised terms of questions, and similar questions for a draft title."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from guild.community.v1 import community_service_pb2 as community_api
from guild.content.v1 import content_service_pb2 as api
from guild.events.v1 import community_events_pb2 as community_events
from guild_common.doclocks import document_lock
from guild_content.domain.search import IndexedText, relevance, terms
from guild_testing.fixtures import auth

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite


def test_terms_are_lowercase_without_punctuation_stop_words_or_plural_endings() -> None:
    assert terms("How do I book my Annual-Leave?! Booking holidays, C++ and C#") == [
        "book",
        "annual",
        "leave",
        "holiday",
        "c++",
        "c#",
    ]
    indexed = IndexedText.of("Booking leave", "Where is the form", ["annual-leave"])
    assert indexed.title_terms == ["book", "leave"]
    assert set(indexed.terms) == {"book", "leave", "annual-leave", "annual", "form"}
    # Title matches weigh double.
    assert relevance(["leave", "form", "pension"], indexed.terms, indexed.title_terms) == (
        3,
        ["leave", "form"],
    )


async def _search(suite: Suite, who: str = "ann", **kw: object) -> api.SearchQuestionsResponse:
    response: api.SearchQuestionsResponse = await suite.content.SearchQuestions(
        api.SearchQuestionsRequest(**kw),  # type: ignore[arg-type]
        metadata=auth(who),
    )
    return response


async def _community(suite: Suite, slug: str, owner: str, members: list[str]) -> str:
    created = await suite.community.CreateCommunity(
        community_api.CreateCommunityRequest(name=slug, slug=slug, programme="induction", region="emea"),
        metadata=auth(owner),
    )
    for member in members:
        await suite.community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=created.community.id), metadata=auth(member)
        )
    return str(created.community.id)


async def test_search_ranks_by_matched_terms_with_title_weighted_and_filters(suite: Suite) -> None:
    in_title = await suite.ask("ann", title="Booking annual leave", body="Which form?", tags=["hr"])
    in_body = await suite.ask("bob", title="Holiday rules", body="How many days of annual leave do we get?")
    by_tag = await suite.ask("bob", title="Carry-over of days", body="Can I move days?", tags=["leave"])
    await suite.ask("ann", title="Expenses", body="Where do I claim travel?", tags=["hr"])
    await suite.answer(in_body.id, "olivia", body="25 days")

    found = await _search(suite, community_id=suite.community_id, query="Annual leave?")
    assert [(h.question.id, h.relevance) for h in found.hits] == [
        (in_title.id, 4),
        (in_body.id, 2),
        (by_tag.id, 1),
    ]
    assert list(found.hits[0].matched_terms) == ["annual", "leave"]

    tagged = await _search(suite, community_id=suite.community_id, query="leave", tag="HR")
    assert [h.question.id for h in tagged.hits] == [in_title.id]
    unanswered = await _search(
        suite, community_id=suite.community_id, query="annual leave", answered=api.ANSWERED_FILTER_UNANSWERED
    )
    assert [h.question.id for h in unanswered.hits] == [in_title.id, by_tag.id]
    answered = await _search(
        suite, community_id=suite.community_id, query="annual leave", answered=api.ANSWERED_FILTER_ANSWERED
    )
    assert [h.question.id for h in answered.hits] == [in_body.id]

    # One hit per page gives the same order.
    paged: list[str] = []
    token = ""
    while True:
        page = await _search(
            suite, community_id=suite.community_id, query="annual leave", page_size=1, page_token=token
        )
        paged += [h.question.id for h in page.hits]
        token = page.next_page_token
        if not token:
            break
    assert paged == [h.question.id for h in found.hits]

    # Edits and deletes reach the index.
    await suite.content.EditPost(
        api.EditPostRequest(
            post_id=by_tag.id,
            title="Pension contributions",
            tags=["pension"],
            update_mask=FieldMask(paths=["title", "tags"]),
        ),
        metadata=auth("bob"),
    )
    await suite.content.DeletePost(api.DeletePostRequest(post_id=in_title.id), metadata=auth("ann"))
    after = await _search(suite, community_id=suite.community_id, query="annual leave")
    assert [h.question.id for h in after.hits] == [in_body.id]
    pension = await _search(suite, community_id=suite.community_id, query="pensions")
    assert [h.question.id for h in pension.hits] == [by_tag.id]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _search(suite, community_id=suite.community_id, query="how do I?")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "query" in suite.reason(caught.value)[1]


async def test_search_across_the_callers_communities_only(suite: Suite) -> None:
    shared = await _community(suite, "graduates", "olivia", ["ann"])
    private = await _community(suite, "finance", "olivia", [])
    here = await suite.ask("bob", title="Laptop setup guide")
    await suite.content.AskQuestion(
        api.AskQuestionRequest(community_id=shared, title="Laptop for graduates"), metadata=auth("olivia")
    )
    elsewhere = await suite.content.AskQuestion(
        api.AskQuestionRequest(community_id=private, title="Laptop budget"), metadata=auth("olivia")
    )
    found = await _search(suite, "ann", query="laptop")
    assert {h.question.community_id for h in found.hits} == {suite.community_id, shared}
    assert elsewhere.question.id not in {h.question.id for h in found.hits}
    assert here.id in {h.question.id for h in found.hits}


async def test_similar_questions_for_a_draft_title(suite: Suite) -> None:
    leave = await suite.ask("ann", title="How do I book annual leave?")
    await suite.ask("bob", title="Booking a meeting room")
    await suite.ask("bob", title="Parking at the office")
    similar = await suite.content.FindSimilarQuestions(
        api.FindSimilarQuestionsRequest(
            community_id=suite.community_id, title="booking leave for August", limit=2
        ),
        metadata=auth("olivia"),
    )
    assert [h.question.title for h in similar.hits] == [leave.title, "Booking a meeting room"]
    assert similar.hits[0].relevance == 4


async def test_unanswered_queue_for_champions_with_similar_answered_questions(suite: Suite) -> None:
    leave = await suite.ask("ann", title="How do I book annual leave?")
    answered = await suite.ask("bob", title="Booking annual leave in August")
    await suite.answer(answered.id, "olivia", body="Through the portal")
    canteen = await suite.ask("ann", title="Canteen opening hours")
    await suite.ask("ann", title="Annual leave carry-over, asked just now")
    db = suite.content_service.app.infra.db
    now = datetime.now(UTC)
    for question_id, age in ((leave.id, 50), (answered.id, 49), (canteen.id, 3)):
        # Under the document's lock, as the service's own writers (the outbox relay) take it.
        async with document_lock("questions", question_id):
            await db.questions.update_one(
                {"_id": question_id}, {"$set": {"create_time": now - timedelta(hours=age)}}
            )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.ListUnansweredQuestions(
            api.ListUnansweredQuestionsRequest(community_id=suite.community_id), metadata=auth("bob")
        )
    assert (caught.value.code(), suite.reason(caught.value)[0]) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_A_CHAMPION",
    )
    await suite.publish_community_event(
        "role_granted",
        community_events.RoleGranted(community_id=suite.community_id, member_id="bob", role="champion"),
        subject=suite.community_id,
    )
    await suite.settle_community_events()

    by_default = await suite.content.ListUnansweredQuestions(
        api.ListUnansweredQuestionsRequest(community_id=suite.community_id), metadata=auth("bob")
    )
    # A day by default: the canteen question is three hours old.
    assert [(i.question.id, [h.question.id for h in i.similar]) for i in by_default.items] == [
        (leave.id, [answered.id])
    ]
    # A shorter age takes in younger questions, still not the one asked just now.
    younger: list[api.UnansweredQuestion] = []
    token = ""
    while True:
        page = await suite.content.ListUnansweredQuestions(
            api.ListUnansweredQuestionsRequest(
                community_id=suite.community_id, min_age_minutes=60, page_size=1, page_token=token
            ),
            metadata=auth("bob"),
        )
        younger += page.items
        token = page.next_page_token
        if not token:
            break
    assert [(i.question.id, len(i.similar)) for i in younger] == [(leave.id, 1), (canteen.id, 0)]

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
from guild_content.adapters.resource_store import MongoResourceRepository
from guild_content.adapters.search_store import SearchIndex
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
        aged = now - timedelta(hours=age)
        await db.questions.update_one({"_id": question_id}, {"$set": {"create_time": aged}})

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


async def _search_posts(suite: Suite, who: str = "ann", **kw: object) -> api.SearchPostsResponse:
    response: api.SearchPostsResponse = await suite.content.SearchPosts(
        api.SearchPostsRequest(**kw),  # type: ignore[arg-type]
        metadata=auth(who),
    )
    return response


def _hit_ids(response: api.SearchPostsResponse) -> list[str]:
    return [h.post.id if h.HasField("post") else h.resource.id for h in response.hits]


async def test_search_posts_covers_every_kind_with_filters(suite: Suite) -> None:
    async def post(kind: str, who: str, title: str, **kw: object) -> str:
        created: api.CreatePostResponse = await suite.content.CreatePost(
            api.CreatePostRequest(
                community_id=suite.community_id,
                kind=kind,
                title=title,
                body="About mentoring",
                **kw,  # type: ignore[arg-type]
            ),
            metadata=auth(who),
        )
        return str(created.post.id)

    question = (await suite.ask("ann", title="Finding a mentor", body="Who mentors new starters?")).id
    discussion = await post("discussion", "bob", "Mentoring circles")
    article = await post("article", "ann", "What my mentor taught me", tags=["career"])
    announcement = await post("announcement", "olivia", "Mentor programme opens")
    shared: api.ShareResourceResponse = await suite.content.ShareResource(
        api.ShareResourceRequest(
            community_id=suite.community_id,
            url="https://example.com/mentoring",
            title="A mentor's handbook",
            summary="How to mentor well",
            tags=["career"],
        ),
        metadata=auth("bob"),
    )
    resource = shared.resource.id
    await suite.ask("bob", title="Parking at the office")

    everything = await _search_posts(suite, query="mentors", community_id=suite.community_id)
    assert set(_hit_ids(everything)) == {question, discussion, article, announcement, resource}
    by_kind = {(h.post.kind if h.HasField("post") else "resource"): h.relevance for h in everything.hits}
    # Every hit has the term in its title (weighted twice).
    assert set(by_kind.values()) == {2}
    # Across the caller's communities too.
    assert set(_hit_ids(await _search_posts(suite, query="mentor"))) == set(_hit_ids(everything))

    for kind, expected in (
        ("resource", [resource]),
        ("article", [article]),
        ("discussion", [discussion]),
        ("announcement", [announcement]),
        ("question", [question]),
    ):
        found = await _search_posts(suite, query="mentor", community_id=suite.community_id, kind=kind)
        assert _hit_ids(found) == expected
    tagged = await _search_posts(suite, query="mentor", tag="Career")
    assert set(_hit_ids(tagged)) == {article, resource}
    unanswered = await _search_posts(suite, query="mentor", answered=api.ANSWERED_FILTER_UNANSWERED)
    assert _hit_ids(unanswered) == [question]

    # One hit per page gives the same order.
    paged: list[str] = []
    token = ""
    while True:
        page = await _search_posts(suite, query="mentor", page_size=2, page_token=token)
        paged += _hit_ids(page)
        token = page.next_page_token
        if not token:
            break
    assert paged == _hit_ids(everything)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _search_posts(suite, query="mentor", kind="poem")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "kind" in suite.reason(caught.value)[1]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _search_posts(suite, query="mentor", kind="resource", answered=api.ANSWERED_FILTER_ANSWERED)
    assert "answered" in suite.reason(caught.value)[1]


async def test_each_term_is_its_own_bounded_lookup(suite: Suite) -> None:
    """An older post with a rarer term is found however many newer posts share a common one."""
    old = await suite.ask("ann", title="Pension and annual leave")
    db = suite.content_service.app.infra.db
    now = datetime.now(UTC)
    # Stored as by a write of the service: the search document follows the post's sequence.
    await db.questions.update_one(
        {"_id": old.id}, {"$set": {"create_time": now - timedelta(days=90)}, "$inc": {"search_seq": 1}}
    )
    await db.questions.insert_many(
        [
            {
                "_id": f"leave-{n:04d}",
                "kind": "question",
                "community_id": suite.community_id,
                "author_id": "bob",
                "title": f"Annual leave question {n}",
                "body": "",
                "tags": [],
                "create_time": now - timedelta(minutes=n),
                "activity_time": now - timedelta(minutes=n),
                "answer_count": 0,
                "score": 0,
                "terms": ["annual", "leave", "question"],
                "title_terms": ["annual", "leave", "question"],
            }
            for n in range(600)
        ]
    )
    # Posts stored before search documents existed get theirs from the backfill.
    assert await SearchIndex(db).missing()
    assert await SearchIndex(db).backfill() == 601
    assert not await SearchIndex(db).missing()
    found = await _search(suite, community_id=suite.community_id, query="annual leave pension", page_size=3)
    assert (found.hits[0].question.id, found.hits[0].relevance) == (old.id, 6)
    posts = await _search_posts(suite, query="pension leave", page_size=1)
    assert _hit_ids(posts) == [old.id]


async def test_resources_stored_before_search_get_terms_and_a_score(suite: Suite) -> None:
    db = suite.content_service.app.infra.db
    await db.resources.insert_one(
        {
            "_id": "legacy-resource",
            "community_id": suite.community_id,
            "author_id": "ann",
            "url": "https://example.com/legacy",
            "title": "Expenses policy",
            "summary": "Claiming travel",
            "tags": ["finance"],
            "create_time": datetime.now(UTC),
            "rating": {"average": 4.5, "count": 2, "distribution": [0, 0, 0, 1, 1]},
        }
    )
    repository = MongoResourceRepository(db, on_events=lambda *_: None)
    assert await repository.backfill() == 1
    assert await repository.backfill() == 0
    stored = await db.resources.find_one({"_id": "legacy-resource"})
    assert stored is not None
    assert stored["score"] == 2
    found = await _search_posts(suite, query="travel finance", community_id=suite.community_id)
    assert _hit_ids(found) == ["legacy-resource"]

"""The content gRPC service in this process on in-memory ports (``memory.serving``): the servicer's
mapping of requests and replies, tokens, page tokens, and errors as ``google.rpc.Status`` with their
details, without FerretDB, NATS or the community service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
import pytest_asyncio
from google.protobuf.field_mask_pb2 import FieldMask
from services.content.tests.memory import World, memory_world, serving

from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import content_service_pb2_grpc as api_grpc
from guild.content.v1 import question_pb2 as pb
from guild_content.domain.community import Role
from guild_testing.fixtures import auth
from guild_testing.status import error_details, error_domain


@dataclass
class Served:
    world: World
    stub: api_grpc.ContentServiceStub


@pytest_asyncio.fixture
async def served() -> AsyncIterator[Served]:
    world = memory_world()
    world.directory.add_community("c1")
    world.directory.add_community("secret", visibility="hidden")
    for member in ("ann", "bob"):
        world.directory.add_member("c1", member)
    world.directory.add_member("c1", "mod", Role.MODERATOR)
    world.directory.add_member("secret", "ann")
    async with serving(world) as stub:
        yield Served(world, stub)


async def _failure(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert error_domain(caught.value) == "content.guild"
    return caught.value


async def _ask(
    stub: api_grpc.ContentServiceStub, who: str = "ann", title: str = "How do I book leave?"
) -> pb.Question:
    response: api.AskQuestionResponse = await stub.AskQuestion(
        api.AskQuestionRequest(community_id="c1", title=title, body="Where is the form?", tags=["HR"]),
        metadata=auth(who),
    )
    return response.question


async def test_every_rpc_needs_a_token(served: Served) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.ListQuestions(api.ListQuestionsRequest(community_id="c1"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as forged:
        await served.stub.ListQuestions(
            api.ListQuestionsRequest(community_id="c1"), metadata=[("authorization", "Bearer nope")]
        )
    assert forged.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_asking_answering_and_reading_over_grpc(served: Served) -> None:
    stub = served.stub
    question = await _ask(stub)
    assert (question.title, list(question.tags), question.author_id) == (
        "How do I book leave?",
        ["hr"],
        "ann",
    )
    answer = (
        await stub.AnswerQuestion(
            api.AnswerQuestionRequest(question_id=question.id, body="Use the HR portal."),
            metadata=auth("bob"),
        )
    ).answer
    accepted = await stub.AcceptAnswer(
        api.AcceptAnswerRequest(question_id=question.id, answer_id=answer.id), metadata=auth("ann")
    )
    assert accepted.question.accepted_answer_id == answer.id
    read = await stub.GetQuestion(api.GetQuestionRequest(question_id=question.id), metadata=auth("out"))
    assert (read.question.answer_count, [a.id for a in read.answers]) == (1, [answer.id])
    assert served.world.names() == ["QuestionAsked", "AnswerPosted", "AnswerAccepted"]


async def test_errors_carry_their_reason_and_field_violations(served: Served) -> None:
    stub = served.stub
    invalid = await _failure(
        stub.AskQuestion(api.AskQuestionRequest(community_id="c1", title=""), metadata=auth("ann"))
    )
    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "title" in error_details(invalid)[1]
    outsider = await _failure(
        stub.AskQuestion(
            api.AskQuestionRequest(community_id="c1", title="Hello there?"), metadata=auth("out")
        )
    )
    assert (outsider.code(), error_details(outsider)[0]) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_A_MEMBER",
    )
    hidden = await _failure(
        stub.ListQuestions(api.ListQuestionsRequest(community_id="secret"), metadata=auth("bob"))
    )
    assert (hidden.code(), error_details(hidden)[0]) == (grpc.StatusCode.NOT_FOUND, "COMMUNITY_NOT_FOUND")
    question = await _ask(stub)
    own = await _failure(
        stub.CastVote(
            api.CastVoteRequest(target_id=question.id, direction=pb.VOTE_DIRECTION_UP), metadata=auth("ann")
        )
    )
    assert (own.code(), error_details(own)[0]) == (grpc.StatusCode.FAILED_PRECONDITION, "SELF_VOTE")
    token = await _failure(
        stub.ListQuestions(
            api.ListQuestionsRequest(community_id="c1", page_token="forged"), metadata=auth("bob")
        )
    )
    assert token.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in error_details(token)[1]


async def test_pages_over_grpc_have_no_gaps_or_repeats(served: Served) -> None:
    asked = [(await _ask(served.stub, title=f"Question number {i}?")).id for i in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        page = await served.stub.ListQuestions(
            api.ListQuestionsRequest(community_id="c1", page_size=2, page_token=token), metadata=auth("bob")
        )
        seen += [q.id for q in page.questions]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(asked))


async def test_votes_edits_and_deletions_over_grpc(served: Served) -> None:
    stub = served.stub
    question = await _ask(stub)
    voted = await stub.CastVote(
        api.CastVoteRequest(target_id=question.id, direction=pb.VOTE_DIRECTION_UP), metadata=auth("bob")
    )
    assert (voted.target_kind, voted.score) == ("question", 1)
    retracted = await stub.RetractVote(api.RetractVoteRequest(target_id=question.id), metadata=auth("bob"))
    assert retracted.score == 0
    edited = await stub.EditPost(
        api.EditPostRequest(
            post_id=question.id, title="Booking leave?", update_mask=FieldMask(paths=["title"])
        ),
        metadata=auth("ann"),
    )
    assert edited.revision == 1
    revisions = await stub.ListRevisions(api.ListRevisionsRequest(post_id=question.id), metadata=auth("bob"))
    assert [r.title for r in revisions.revisions] == ["How do I book leave?"]
    no_reason = await _failure(
        stub.DeletePost(api.DeletePostRequest(post_id=question.id), metadata=auth("mod"))
    )
    assert "reason" in error_details(no_reason)[1]
    deleted = await stub.DeletePost(
        api.DeletePostRequest(post_id=question.id, reason="spam"), metadata=auth("mod")
    )
    assert (deleted.post_id, deleted.kind) == (question.id, "question")
    gone = await _failure(
        stub.GetQuestion(api.GetQuestionRequest(question_id=question.id), metadata=auth("ann"))
    )
    assert gone.code() == grpc.StatusCode.NOT_FOUND


async def test_search_and_tags_over_grpc(served: Served) -> None:
    stub = served.stub
    leave = await _ask(stub, title="Booking annual leave")
    await _ask(stub, "bob", "Expenses for travel")
    found = await stub.SearchQuestions(
        api.SearchQuestionsRequest(query="annual leave", community_id="c1"), metadata=auth("bob")
    )
    assert [(h.question.id, h.relevance, list(h.matched_terms)) for h in found.hits] == [
        (leave.id, 4, ["annual", "leave"])
    ]
    tags = await stub.ListTags(api.ListTagsRequest(community_id="c1"), metadata=auth("bob"))
    assert [(t.tag, t.count) for t in tags.tags] == [("hr", 2)]

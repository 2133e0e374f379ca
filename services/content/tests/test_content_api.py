"""The content service over gRPC, beside a real community service, on real FerretDB and NATS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import grpc
import nats
import pytest

from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import content_service_pb2_grpc as api_grpc
from guild.events.v1 import content_events_pb2 as events
from guild_common.events.envelope import Envelope
from guild_common.settings import ServiceSettings
from guild_content import bootstrap as content_bootstrap
from guild_content.config import ContentSettings
from guild_testing.fixtures import Infra, auth
from guild_testing.inprocess import running_service
from guild_testing.status import expect_request_id_reused

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite


async def _ask(
    suite: Suite, who: str = "ann", title: str = "How do I book leave?", **kw: object
) -> api.AskQuestionResponse:
    request = api.AskQuestionRequest(
        community_id=suite.community_id,
        title=title,
        body="Where is the form?",
        **kw,  # type: ignore[arg-type]
    )
    response: api.AskQuestionResponse = await suite.content.AskQuestion(request, metadata=auth(who))
    return response


async def test_ask_answer_accept_and_read_back(suite: Suite) -> None:
    question = (await _ask(suite, tags=["HR", "leave", "hr"])).question
    assert question.tags == ["hr", "leave"]
    answer = (
        await suite.content.AnswerQuestion(
            api.AnswerQuestionRequest(question_id=question.id, body="Use the HR portal."),
            metadata=auth("bob"),
        )
    ).answer
    accepted = await suite.content.AcceptAnswer(
        api.AcceptAnswerRequest(question_id=question.id, answer_id=answer.id), metadata=auth("ann")
    )
    assert accepted.question.accepted_answer_id == answer.id
    got = await suite.content.GetQuestion(
        api.GetQuestionRequest(question_id=question.id), metadata=auth("olivia")
    )
    assert got.question.answer_count == 1
    assert [(a.author_id, a.accepted) for a in got.answers] == [("bob", True)]


async def test_requests_are_idempotent_by_request_id(suite: Suite) -> None:
    first = await _ask(suite, request_id="q-1")
    second = await _ask(suite, request_id="q-1")
    assert first.question.id == second.question.id
    listed = await suite.content.ListQuestions(
        api.ListQuestionsRequest(community_id=suite.community_id), metadata=auth("ann")
    )
    assert len(listed.questions) == 1


async def test_a_request_id_is_bound_to_the_request_it_first_came_with(suite: Suite) -> None:
    question = (await _ask(suite, request_id="q-2")).question
    await expect_request_id_reused(_ask(suite, title="Where are the expense forms?", request_id="q-2"))
    comment = api.AddCommentRequest(post_id=question.id, body="Which country?", request_id="c-2")
    first = await suite.content.AddComment(comment, metadata=auth("bob"))
    assert (await suite.content.AddComment(comment, metadata=auth("bob"))).comment.id == first.comment.id
    other = (await _ask(suite, title="Where are the expense forms?")).question
    await expect_request_id_reused(
        suite.content.AddComment(
            api.AddCommentRequest(post_id=other.id, body="Which country?", request_id="c-2"),
            metadata=auth("bob"),
        )
    )
    listed = await suite.content.ListQuestions(
        api.ListQuestionsRequest(community_id=suite.community_id), metadata=auth("ann")
    )
    assert {q.id for q in listed.questions} == {question.id, other.id}
    comments = await suite.content.ListComments(
        api.ListCommentsRequest(post_id=other.id), metadata=auth("ann")
    )
    assert not comments.comments


async def test_an_answer_request_id_is_bound_to_its_question_and_text(suite: Suite) -> None:
    first = (await _ask(suite, title="How do I book leave?")).question
    other = (await _ask(suite, title="Where are the expense forms?")).question

    async def answer(question_id: str, body: str) -> api.AnswerQuestionResponse:
        response: api.AnswerQuestionResponse = await suite.content.AnswerQuestion(
            api.AnswerQuestionRequest(question_id=question_id, body=body, request_id="a-1"),
            metadata=auth("bob"),
        )
        return response

    original = await answer(first.id, "Use the HR portal.")
    again = await answer(first.id, "Use the HR portal.")
    assert again.answer.id == original.answer.id
    for question_id, body in ((other.id, "Use the HR portal."), (first.id, "Ask your manager.")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await answer(question_id, body)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "request_id" in (caught.value.details() or "")
    got = await suite.content.GetQuestion(api.GetQuestionRequest(question_id=other.id), metadata=auth("ann"))
    assert got.question.answer_count == 0


async def test_list_questions_newest_first_across_pages(suite: Suite) -> None:
    titles = [f"Question number {i}" for i in range(5)]
    for title in titles:
        await _ask(suite, title=title)
    seen: list[str] = []
    token = ""
    while True:
        page = await suite.content.ListQuestions(
            api.ListQuestionsRequest(community_id=suite.community_id, page_size=2, page_token=token),
            metadata=auth("bob"),
        )
        seen += [q.title for q in page.questions]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(titles))


async def test_bad_input_gets_clear_errors_and_writes_nothing(suite: Suite) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _ask(suite, who="mallory")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert suite.reason(caught.value)[0] == "NOT_A_MEMBER"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _ask(suite, title="  ")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "title" in suite.reason(caught.value)[1]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.GetQuestion(api.GetQuestionRequest(question_id="missing"), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.ListQuestions(api.ListQuestionsRequest(community_id=suite.community_id))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

    listed = await suite.content.ListQuestions(
        api.ListQuestionsRequest(community_id=suite.community_id), metadata=auth("ann")
    )
    assert list(listed.questions) == []


async def test_only_the_asker_accepts(suite: Suite) -> None:
    question = (await _ask(suite)).question
    answer = (
        await suite.content.AnswerQuestion(
            api.AnswerQuestionRequest(question_id=question.id, body="An answer"), metadata=auth("bob")
        )
    ).answer
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.AcceptAnswer(
            api.AcceptAnswerRequest(question_id=question.id, answer_id=answer.id), metadata=auth("bob")
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    got = await suite.content.GetQuestion(
        api.GetQuestionRequest(question_id=question.id), metadata=auth("ann")
    )
    assert got.question.accepted_answer_id == ""
    # The owner moderates, and may accept on the asker's behalf.
    accepted = await suite.content.AcceptAnswer(
        api.AcceptAnswerRequest(question_id=question.id, answer_id=answer.id), metadata=auth("olivia")
    )
    assert accepted.question.accepted_answer_id == answer.id


async def test_membership_read_model_follows_community_events(suite: Suite) -> None:
    db = suite.content_service.app.infra.db
    for _ in range(100):
        if await db.membership_views.count_documents({"community_id": suite.community_id}) == 3:
            break
        await asyncio.sleep(0.05)
    roles = {
        d["member_id"]: d["role"]
        async for d in db.membership_views.find({"community_id": suite.community_id})
    }
    assert roles == {"olivia": "owner", "ann": "member", "bob": "member"}
    view = await db.community_views.find_one({"_id": suite.community_id})
    assert view is not None
    assert (view["region"], view["programme"]) == ("emea", "induction")


async def test_changing_the_accepted_answer_emits_unaccept_then_accept(suite: Suite, infra: Infra) -> None:
    question = (await _ask(suite)).question
    answers = []
    for who in ("bob", "olivia"):
        answers.append(
            (
                await suite.content.AnswerQuestion(
                    api.AnswerQuestionRequest(question_id=question.id, body=f"{who} says"), metadata=auth(who)
                )
            ).answer
        )
    for answer in (answers[0], answers[0], answers[1]):
        await suite.content.AcceptAnswer(
            api.AcceptAnswerRequest(question_id=question.id, answer_id=answer.id), metadata=auth("ann")
        )
    nc = await nats.connect(infra.nats_url)
    sub = await nc.jetstream().pull_subscribe("guild.emea.induction.content.>", stream="GUILD_CONTENT")
    received: list[Envelope] = []
    for _ in range(40):
        try:
            received += [
                Envelope.from_message(m.subject, m.headers, m.data) for m in await sub.fetch(20, timeout=0.25)
            ]
        except nats.errors.TimeoutError:
            pass
        if len(received) >= 6:
            break
    await nc.close()
    # Events of one aggregate keep their order; the question's are asked, accepted, unaccepted, accepted.
    on_question = [e for e in received if e.type.split(".")[2] != "answer_posted"]
    assert [e.type.split(".")[2] for e in on_question] == [
        "question_asked",
        "answer_accepted",
        "answer_unaccepted",
        "answer_accepted",
    ]
    assert len(received) == 6
    unaccepted = on_question[2].payload(events.AnswerUnaccepted)
    assert (unaccepted.answer_id, unaccepted.answer_author_id) == (answers[0].id, "bob")
    accepted = on_question[3].payload(events.AnswerAccepted)
    assert (accepted.answer_author_id, accepted.question_author_id) == ("olivia", "ann")


async def test_community_service_down_is_unavailable_for_unknown_members(
    settings_for: Callable[..., ServiceSettings],
) -> None:
    settings = settings_for(ContentSettings, community_addr="127.0.0.1:1")
    async with running_service(settings, content_bootstrap.build) as content:
        stub = api_grpc.ContentServiceStub(content.channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AskQuestion(
                api.AskQuestionRequest(community_id="c1", title="Anyone?"), metadata=auth("ann")
            )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_concurrent_answers_and_acceptance_lose_no_update(suite: Suite) -> None:
    question = (await _ask(suite)).question
    answers = await asyncio.gather(
        *(
            suite.content.AnswerQuestion(
                api.AnswerQuestionRequest(question_id=question.id, body=f"answer {i}"),
                metadata=auth("bob" if i % 2 else "olivia"),
            )
            for i in range(12)
        ),
    )
    await suite.content.AcceptAnswer(
        api.AcceptAnswerRequest(question_id=question.id, answer_id=answers[3].answer.id), metadata=auth("ann")
    )
    got = await suite.content.GetQuestion(
        api.GetQuestionRequest(question_id=question.id), metadata=auth("ann")
    )
    assert got.question.answer_count == 12
    assert got.question.accepted_answer_id == answers[3].answer.id
    assert len(got.answers) == 12

"""Learner-feedback surveys over gRPC: draft, open, answer, edit, close, results."""

from __future__ import annotations

import grpc
import pytest

from guild.community.v1 import community_pb2 as cpb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild.community.v1 import survey_pb2 as spb
from guild.events.v1 import community_events_pb2 as events
from guild_community.domain.authorization import ENROL_SCOPE
from guild_testing.fixtures import auth

from .conftest import EventReader

Stub = api_grpc.CommunityServiceStub
# The owner also holds the scope for enrolling people without asking them (EnrolCohort).
OWNER = auth("olivia", ENROL_SCOPE)
QUESTIONS = [
    spb.Question(text="How useful was the first week?", type=spb.QUESTION_TYPE_RATING),
    spb.Question(text="Would you recommend this community?", type=spb.QUESTION_TYPE_NPS),
    spb.Question(text="Best format?", type=spb.QUESTION_TYPE_SINGLE_CHOICE, options=["video", "q&a", "docs"]),
    spb.Question(text="Topics?", type=spb.QUESTION_TYPE_MULTIPLE_CHOICE, options=["crm", "pricing"]),
    spb.Question(text="Anything else?", type=spb.QUESTION_TYPE_FREE_TEXT),
]


async def _community(stub: Stub) -> str:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(name="Starters", slug="starters", programme="induction", region="apac"),
        metadata=OWNER,
    )
    cid = created.community.id
    await stub.EnrolCohort(
        api.EnrolCohortRequest(community_id=cid, member_ids=["ann", "bob", "cat"]), metadata=OWNER
    )
    return cid


def _answers(rating: int, nps: int, single: str, multi: list[str], text: str = "") -> list[spb.Answer]:
    answers = [
        spb.Answer(question_id="q1", score=rating),
        spb.Answer(question_id="q2", score=nps),
        spb.Answer(question_id="q3", choices=[single]),
        spb.Answer(question_id="q4", choices=multi),
    ]
    if text:
        answers.append(spb.Answer(question_id="q5", text=text))
    return answers


async def _submit(stub: Stub, survey_id: str, person: str, answers: list[spb.Answer]) -> bool:
    response: api.SubmitSurveyResponseResponse = await stub.SubmitSurveyResponse(
        api.SubmitSurveyResponseRequest(survey_id=survey_id, answers=answers), metadata=auth(person)
    )
    return bool(response.replaced)


async def test_a_survey_is_answered_once_per_member_and_reported(
    stub: Stub, read_events: EventReader
) -> None:
    cid = await _community(stub)
    created: api.CreateSurveyResponse = await stub.CreateSurvey(
        api.CreateSurveyRequest(community_id=cid, title="Week one", questions=QUESTIONS, request_id="w1"),
        metadata=OWNER,
    )
    survey = created.survey
    assert [q.id for q in survey.questions] == ["q1", "q2", "q3", "q4", "q5"]
    assert survey.state == spb.SURVEY_STATE_DRAFT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _submit(stub, survey.id, "ann", _answers(5, 10, "video", ["crm"]))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await stub.OpenSurvey(api.OpenSurveyRequest(survey_id=survey.id), metadata=OWNER)

    assert not await _submit(stub, survey.id, "ann", _answers(2, 3, "docs", ["crm"], "more examples"))
    assert await _submit(stub, survey.id, "ann", _answers(5, 10, "video", ["crm", "pricing"], "great start"))
    assert not await _submit(stub, survey.id, "bob", _answers(3, 6, "video", ["pricing"]))
    assert not await _submit(stub, survey.id, "cat", _answers(4, 9, "q&a", ["crm"], "slower please"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _submit(stub, survey.id, "zed", _answers(4, 9, "q&a", ["crm"]))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    bad_answers = [
        [spb.Answer(question_id="q1", score=6)],
        [spb.Answer(question_id="q3", choices=["video", "docs"])],
        [spb.Answer(question_id="q4", choices=["cooking"])],
        [spb.Answer(question_id="q9", score=1)],
        [],
    ]
    for bad in bad_answers:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _submit(stub, survey.id, "bob", bad)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad

    closed: api.CloseSurveyResponse = await stub.CloseSurvey(
        api.CloseSurveyRequest(survey_id=survey.id), metadata=OWNER
    )
    assert (closed.survey.state, closed.survey.response_count) == (spb.SURVEY_STATE_CLOSED, 3)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _submit(stub, survey.id, "bob", _answers(1, 0, "docs", ["crm"]))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    report: api.GetSurveyResultsResponse = await stub.GetSurveyResults(
        api.GetSurveyResultsRequest(survey_id=survey.id), metadata=OWNER
    )
    rating, nps, single, multi, text = report.results
    assert (rating.answer_count, rating.average) == (3, 4.0)
    assert dict(rating.distribution) == {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1}
    # Promoters 10 and 9, detractor 6: (2 - 1) / 3.
    assert nps.net_promoter_score == pytest.approx(33.33)
    assert dict(single.distribution) == {"video": 2, "q&a": 1, "docs": 0}
    assert dict(multi.distribution) == {"crm": 2, "pricing": 2}
    assert text.answer_count == 2
    texts: list[str] = []
    token = ""
    while True:
        page: api.ListFreeTextAnswersResponse = await stub.ListFreeTextAnswers(
            api.ListFreeTextAnswersRequest(
                survey_id=survey.id, question_id="q5", page_size=1, page_token=token
            ),
            metadata=OWNER,
        )
        texts += [a.text for a in page.answers]
        token = page.next_page_token
        if not token:
            break
    assert sorted(texts) == ["great start", "slower please"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetSurveyResults(api.GetSurveyResultsRequest(survey_id=survey.id), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    received = await read_events("guild.apac.induction.community.>", 11)
    kinds = [e.type.split(".")[2] for e in received]
    assert kinds.count("survey_opened") == 1
    assert kinds.count("survey_response_submitted") == 4
    assert kinds.count("survey_closed") == 1
    opened = next(e for e in received if e.type == "guild.community.survey_opened.v1")
    assert opened.payload(events.SurveyOpened).title == "Week one"


@pytest.mark.memory_too
async def test_surveys_are_validated_and_idempotent(stub: Stub) -> None:
    cid = await _community(stub)
    request = api.CreateSurveyRequest(
        community_id=cid, title="Pulse", questions=QUESTIONS[:1], request_id="p1"
    )
    first: api.CreateSurveyResponse = await stub.CreateSurvey(request, metadata=OWNER)
    again: api.CreateSurveyResponse = await stub.CreateSurvey(request, metadata=OWNER)
    assert first.survey.id == again.survey.id
    for questions in (
        [],
        QUESTIONS * 3,
        [spb.Question(text="Pick", type=spb.QUESTION_TYPE_SINGLE_CHOICE, options=["only one"])],
        [spb.Question(text="No type")],
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateSurvey(
                api.CreateSurveyRequest(community_id=cid, title="Bad", questions=questions), metadata=OWNER
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await stub.OpenSurvey(api.OpenSurveyRequest(survey_id=first.survey.id), metadata=OWNER)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.OpenSurvey(api.OpenSurveyRequest(survey_id=first.survey.id), metadata=OWNER)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetSurvey(api.GetSurveyRequest(survey_id="missing"), metadata=OWNER)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    got: api.GetSurveyResponse = await stub.GetSurvey(
        api.GetSurveyRequest(survey_id=first.survey.id), metadata=auth("ann")
    )
    assert got.survey.state == spb.SURVEY_STATE_OPEN


@pytest.mark.memory_too
async def test_a_hidden_communitys_surveys_do_not_exist_for_outsiders(stub: Stub) -> None:
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name="Board",
            slug="board-pulse",
            programme="management",
            region="emea",
            visibility=cpb.VISIBILITY_HIDDEN,
        ),
        metadata=OWNER,
    )
    survey = (
        await stub.CreateSurvey(
            api.CreateSurveyRequest(
                community_id=created.community.id, title="Pulse", questions=QUESTIONS[:1], request_id="h1"
            ),
            metadata=OWNER,
        )
    ).survey
    await stub.OpenSurvey(api.OpenSurveyRequest(survey_id=survey.id), metadata=OWNER)
    outsider = auth("zed")
    calls = [
        stub.GetSurvey(api.GetSurveyRequest(survey_id=survey.id), metadata=outsider),
        stub.SubmitSurveyResponse(
            api.SubmitSurveyResponseRequest(
                survey_id=survey.id, answers=[spb.Answer(question_id="q1", score=5)]
            ),
            metadata=outsider,
        ),
        stub.GetSurveyResults(api.GetSurveyResultsRequest(survey_id=survey.id), metadata=outsider),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    # The owner still sees it.
    seen: api.GetSurveyResponse = await stub.GetSurvey(
        api.GetSurveyRequest(survey_id=survey.id), metadata=OWNER
    )
    assert seen.survey.id == survey.id

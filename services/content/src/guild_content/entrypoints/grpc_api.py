"""The ContentService gRPC servicer: thin, mapping requests to use cases."""

from __future__ import annotations

from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import content_service_pb2_grpc as api_grpc
from guild.content.v1 import question_pb2 as pb
from guild_common.auth import current_principal
from guild_content.app.use_cases import ContentUseCases
from guild_content.domain.model import Answer, Question


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def question_to_pb(q: Question) -> pb.Question:
    return pb.Question(
        id=q.id,
        community_id=q.community_id,
        author_id=q.author_id,
        title=q.title,
        body=q.body,
        tags=q.tags,
        create_time=_ts(q.create_time),
        answer_count=q.answer_count,
        accepted_answer_id=q.accepted_answer_id,
    )


def answer_to_pb(a: Answer, accepted_answer_id: str) -> pb.Answer:
    return pb.Answer(
        id=a.id,
        question_id=a.question_id,
        community_id=a.community_id,
        author_id=a.author_id,
        body=a.body,
        create_time=_ts(a.create_time),
        accepted=a.id == accepted_answer_id,
    )


class ContentServicer(api_grpc.ContentServiceServicer):
    def __init__(self, use_cases: ContentUseCases) -> None:
        self._uc = use_cases

    async def AskQuestion(
        self, request: api.AskQuestionRequest, context: grpc.aio.ServicerContext
    ) -> api.AskQuestionResponse:
        question = await self._uc.ask(
            current_principal(),
            request.community_id,
            request.title,
            request.body,
            list(request.tags),
            request.request_id,
        )
        return api.AskQuestionResponse(question=question_to_pb(question))

    async def AnswerQuestion(
        self, request: api.AnswerQuestionRequest, context: grpc.aio.ServicerContext
    ) -> api.AnswerQuestionResponse:
        answer = await self._uc.answer(
            current_principal(), request.question_id, request.body, request.request_id
        )
        return api.AnswerQuestionResponse(answer=answer_to_pb(answer, ""))

    async def AcceptAnswer(
        self, request: api.AcceptAnswerRequest, context: grpc.aio.ServicerContext
    ) -> api.AcceptAnswerResponse:
        question = await self._uc.accept(current_principal(), request.question_id, request.answer_id)
        return api.AcceptAnswerResponse(question=question_to_pb(question))

    async def GetQuestion(
        self, request: api.GetQuestionRequest, context: grpc.aio.ServicerContext
    ) -> api.GetQuestionResponse:
        question, answers = await self._uc.get_question(
            current_principal(), request.question_id, request.answer_limit
        )
        return api.GetQuestionResponse(
            question=question_to_pb(question),
            answers=[answer_to_pb(a, question.accepted_answer_id) for a in answers],
        )

    async def ListQuestions(
        self, request: api.ListQuestionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListQuestionsResponse:
        page = await self._uc.list_questions(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListQuestionsResponse(
            questions=[question_to_pb(q) for q in page.questions], next_page_token=page.next_token
        )

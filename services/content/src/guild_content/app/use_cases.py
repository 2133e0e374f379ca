"""Content use cases: each method is one command or query."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import Aborted, NotFound, PermissionDenied, Validator
from guild_common.ids import id_for_request, new_id
from guild_common.pagination import clamp_page_size
from guild_content.app.ports import MembershipDirectory, QuestionPage, QuestionRepository
from guild_content.domain.model import Answer, CommunityView, MembershipView, Question

ACCEPT_ATTEMPTS = 5


class ContentUseCases:
    def __init__(
        self,
        repository: QuestionRepository,
        directory: MembershipDirectory,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._repo = repository
        self._directory = directory
        self._clock = clock

    async def ask(
        self, caller: Principal, community_id: str, title: str, body: str, tags: list[str], request_id: str
    ) -> Question:
        _require(community_id=community_id)
        community, _ = await self._member_of(caller, community_id)
        community.ensure_writable()
        question = Question.ask(
            id=_id("question", caller, request_id),
            community_id=community_id,
            author_id=caller.subject,
            title=title,
            body=body,
            tags=tags,
            now=self._clock(),
        )
        return await self._repo.add_question(question, community)

    async def answer(self, caller: Principal, question_id: str, body: str, request_id: str) -> Answer:
        question = await self._question(question_id)
        community, _ = await self._member_of(caller, question.community_id)
        community.ensure_writable()
        answer = question.answer(
            id=_id("answer", caller, request_id), author_id=caller.subject, body=body, now=self._clock()
        )
        return await self._repo.add_answer(answer, community)

    async def accept(self, caller: Principal, question_id: str, answer_id: str) -> Question:
        _require(question_id=question_id, answer_id=answer_id)
        for _ in range(ACCEPT_ATTEMPTS):
            question = await self._question(question_id)
            community, membership = await self._member_of(caller, question.community_id)
            community.ensure_writable()
            answer = await self._repo.get_answer(answer_id)
            if answer is None or answer.question_id != question.id:
                raise NotFound(f"answer {answer_id} not found on this question", reason="ANSWER_NOT_FOUND")
            previous_author = ""
            if question.accepted_answer_id and question.accepted_answer_id != answer.id:
                previous = await self._repo.get_answer(question.accepted_answer_id)
                previous_author = previous.author_id if previous else ""
            if not question.accept(answer, membership, previous_author_id=previous_author, now=self._clock()):
                return question
            if await self._repo.save_acceptance(question, community):
                return question
        raise Aborted("the question changed concurrently; retry", reason="CONCURRENT_UPDATE")

    async def get_question(
        self, caller: Principal, question_id: str, answer_limit: int
    ) -> tuple[Question, list[Answer]]:
        limit = clamp_page_size(answer_limit, default=100, maximum=500, field="answer_limit")
        question = await self._question(question_id)
        await self._readable(caller, question.community_id)
        return question, await self._repo.list_answers(question.id, limit)

    async def list_questions(
        self, caller: Principal, community_id: str, page_size: int, page_token: str
    ) -> QuestionPage:
        _require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        await self._readable(caller, community_id)
        return await self._repo.list_questions(community_id, size, page_token)

    async def _question(self, question_id: str) -> Question:
        _require(question_id=question_id)
        question = await self._repo.get_question(question_id)
        if question is None:
            raise NotFound(f"question {question_id} not found", reason="QUESTION_NOT_FOUND")
        return question

    async def _community(self, community_id: str) -> CommunityView:
        community = await self._directory.community(community_id)
        if community is None:
            raise NotFound(f"community {community_id} not found", reason="COMMUNITY_NOT_FOUND")
        return community

    async def _member_of(self, caller: Principal, community_id: str) -> tuple[CommunityView, MembershipView]:
        community = await self._community(community_id)
        membership = await self._directory.membership(community_id, caller.subject)
        if membership is None:
            raise PermissionDenied("only members of the community may post here", reason="NOT_A_MEMBER")
        return community, membership

    async def _readable(self, caller: Principal, community_id: str) -> CommunityView:
        community = await self._community(community_id)
        hidden = community.visibility == "hidden" and not caller.is_service
        if hidden and await self._directory.membership(community_id, caller.subject) is None:
            raise NotFound(f"community {community_id} not found", reason="COMMUNITY_NOT_FOUND")
        return community


def _id(scope: str, caller: Principal, request_id: str) -> str:
    return id_for_request(scope, caller.subject, request_id) if request_id else new_id()


def _require(**fields: str) -> None:
    check = Validator()
    for name, value in fields.items():
        check.require(bool(value), name, "must not be empty")
    check.check()

"""Survey use cases: owners ask, members answer, staff read the results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import FieldViolation, InvalidArgument, NotFound, Validator
from guild_common.ids import id_for_request, new_id
from guild_common.pagination import clamp_page_size
from guild_community.app.ports import CommunityRepository, SurveyRepository
from guild_community.app.visibility import authorize_visible
from guild_community.domain.authorization import Action
from guild_community.domain.communities import Community
from guild_community.domain.surveys import (
    Answer,
    QuestionResult,
    QuestionType,
    ResponseSubmitted,
    Survey,
    tally,
)


@dataclass(frozen=True)
class NewSurvey:
    community_id: str
    title: str
    questions: list[tuple[str, QuestionType | None, list[str]]]
    request_id: str


class SurveyUseCases:
    def __init__(
        self,
        surveys: SurveyRepository,
        communities: CommunityRepository,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._surveys = surveys
        self._communities = communities
        self._clock = clock

    async def create(self, caller: Principal, new: NewSurvey) -> Survey:
        community = await self._community(new.community_id)
        await self._authorize(caller, community, Action.MANAGE_SURVEYS)
        community.check_writable()
        survey_id = id_for_request("survey", caller.subject, new.request_id) if new.request_id else new_id()
        survey = Survey.draft(
            id=survey_id,
            community_id=community.id,
            title=new.title,
            questions=new.questions,
            created_by=caller.subject,
            now=self._clock(),
        )
        return await self._surveys.add_survey(survey)

    async def open(self, caller: Principal, survey_id: str) -> Survey:
        survey, community = await self._survey(caller, survey_id, Action.MANAGE_SURVEYS)
        community.check_writable()
        now = self._clock()
        return await self._surveys.update_survey(
            survey.id, lambda s: s.open(caller.subject, community.region, community.programme, now)
        )

    async def close(self, caller: Principal, survey_id: str) -> Survey:
        survey, community = await self._survey(caller, survey_id, Action.MANAGE_SURVEYS)
        now = self._clock()
        return await self._surveys.update_survey(
            survey.id, lambda s: s.close(caller.subject, community.region, community.programme, now)
        )

    async def get(self, caller: Principal, survey_id: str) -> Survey:
        survey, _ = await self._survey(caller, survey_id, Action.ANSWER_SURVEYS)
        return survey

    async def submit(self, caller: Principal, survey_id: str, answers: list[Answer]) -> bool:
        survey, community = await self._survey(caller, survey_id, Action.ANSWER_SURVEYS)
        community.check_writable()
        ordered = survey.check_answers(answers)
        now = self._clock()

        def event(replaced: bool) -> ResponseSubmitted:
            return ResponseSubmitted(
                survey, caller.subject, replaced, community.region, community.programme, now
            )

        return await self._surveys.put_response(survey, caller.subject, ordered, now, event)

    async def results(self, caller: Principal, survey_id: str) -> tuple[Survey, list[QuestionResult]]:
        survey, _ = await self._survey(caller, survey_id, Action.VIEW_SURVEY_RESULTS)
        return survey, tally(survey.questions, await self._surveys.all_answers(survey.id))

    async def free_text(
        self, caller: Principal, survey_id: str, question_id: str, page_size: int, page_token: str
    ) -> tuple[list[tuple[str, str]], str]:
        size = clamp_page_size(page_size, default=50, maximum=500)
        survey, _ = await self._survey(caller, survey_id, Action.VIEW_SURVEY_RESULTS)
        if not any(q.id == question_id and q.type == QuestionType.FREE_TEXT for q in survey.questions):
            raise InvalidArgument(
                "not a free-text question",
                violations=[FieldViolation("question_id", "not a free-text question")],
            )
        return await self._surveys.free_text(survey.id, question_id, size, page_token)

    async def _survey(self, caller: Principal, survey_id: str, action: Action) -> tuple[Survey, Community]:
        check = Validator()
        check.require(bool(survey_id), "survey_id", "must not be empty")
        check.check()
        survey = await self._surveys.get_survey(survey_id)
        if survey is None:
            raise NotFound(f"survey {survey_id} not found", reason="SURVEY_NOT_FOUND")
        community = await self._community(survey.community_id)
        await self._authorize(caller, community, action)
        return survey, community

    async def _community(self, community_id: str) -> Community:
        check = Validator()
        check.require(bool(community_id), "community_id", "must not be empty")
        check.check()
        community = await self._communities.get_community(community_id)
        if community is None:
            raise NotFound(f"community {community_id} not found", reason="COMMUNITY_NOT_FOUND")
        return community

    async def _authorize(self, caller: Principal, community: Community, action: Action) -> None:
        await authorize_visible(self._communities, caller, community, action)

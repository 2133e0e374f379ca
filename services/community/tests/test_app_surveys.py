"""Survey use cases on in-memory ports: draft, open, answer, replace, close, results."""

from __future__ import annotations

import pytest

from guild_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from guild_community.app.surveys import NewSurvey
from guild_community.domain.authorization import ENROL_SCOPE
from guild_community.domain.communities import Community, Lifecycle, Visibility
from guild_community.domain.membership import Role
from guild_community.domain.surveys import (
    Answer,
    QuestionType,
    ResponseSubmitted,
    Survey,
    SurveyClosed,
    SurveyOpened,
    SurveyState,
)

from .memory import MemoryCommunityService, new_community, person, service_caller

OWNER = person("olivia")
HR = service_caller("hr-system", ENROL_SCOPE)
QUESTIONS: list[tuple[str, QuestionType | None, list[str]]] = [
    ("How useful was the first week?", QuestionType.RATING, []),
    ("Would you recommend it?", QuestionType.NPS, []),
    ("Best format?", QuestionType.SINGLE_CHOICE, ["video", "q&a", "docs"]),
    ("Topics?", QuestionType.MULTIPLE_CHOICE, ["crm", "pricing"]),
    ("Anything else?", QuestionType.FREE_TEXT, []),
]


def _answers(rating: int, nps: int, single: str, multi: list[str], text: str = "") -> list[Answer]:
    answers = [
        Answer("q1", score=rating),
        Answer("q2", score=nps),
        Answer("q3", choices=(single,)),
        Answer("q4", choices=tuple(multi)),
    ]
    if text:
        answers.append(Answer("q5", text=text))
    return answers


async def _community(svc: MemoryCommunityService, **fields: object) -> Community:
    community = await new_community(svc, OWNER, "starters", **fields)  # type: ignore[arg-type]
    await svc.membership.enrol_cohort(HR, community.id, ["ann", "bob", "cat", "mo"])
    await svc.membership.grant_role(OWNER, community.id, "mo", Role.MODERATOR)
    return community


async def _survey(svc: MemoryCommunityService, community: Community, request_id: str = "") -> Survey:
    return await svc.surveys.create(OWNER, NewSurvey(community.id, "Week one", QUESTIONS, request_id))


async def test_a_survey_is_answered_once_per_member_and_tallied(svc: MemoryCommunityService) -> None:
    community = await _community(svc)
    survey = await _survey(svc, community)
    assert ([q.id for q in survey.questions], survey.state) == (
        ["q1", "q2", "q3", "q4", "q5"],
        SurveyState.DRAFT,
    )
    with pytest.raises(FailedPrecondition) as draft:
        await svc.surveys.submit(person("ann"), survey.id, _answers(5, 10, "video", ["crm"]))
    assert draft.value.reason == "SURVEY_NOT_OPEN"
    opened = await svc.surveys.open(OWNER, survey.id)
    assert opened.state == SurveyState.OPEN

    assert not await svc.surveys.submit(person("ann"), survey.id, _answers(2, 3, "docs", ["crm"], "more"))
    assert await svc.surveys.submit(
        person("ann"), survey.id, _answers(5, 10, "video", ["crm", "pricing"], "great")
    )
    assert not await svc.surveys.submit(person("bob"), survey.id, _answers(3, 6, "video", ["pricing"]))
    assert not await svc.surveys.submit(person("cat"), survey.id, _answers(4, 9, "q&a", ["crm"], "slower"))
    closed = await svc.surveys.close(OWNER, survey.id)
    assert (closed.state, closed.response_count) == (SurveyState.CLOSED, 3)

    got, results = await svc.surveys.results(person("mo"), survey.id)
    assert got.response_count == 3
    rating, nps, single, multi, text = results
    assert (rating.answer_count, rating.average) == (3, 4.0)
    assert rating.distribution == {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1}
    assert nps.net_promoter_score == pytest.approx(100 * (2 - 1) / 3, abs=0.01)
    assert single.distribution == {"video": 2, "q&a": 1, "docs": 0}
    assert multi.distribution == {"crm": 2, "pricing": 2}
    assert text.answer_count == 2

    kinds = [type(e) for e in svc.survey_store.events]
    assert kinds == [
        SurveyOpened,
        ResponseSubmitted,
        ResponseSubmitted,
        ResponseSubmitted,
        ResponseSubmitted,
        SurveyClosed,
    ]
    replaced = [e.replaced for e in svc.survey_store.events if isinstance(e, ResponseSubmitted)]
    assert replaced == [False, True, False, False]
    last = svc.survey_store.events[-1]
    assert isinstance(last, SurveyClosed)
    assert (last.closed_by, last.region, last.programme) == ("olivia", "amer", "sales")


async def test_free_text_answers_page_newest_first_for_staff(svc: MemoryCommunityService) -> None:
    community = await _community(svc)
    survey = await _survey(svc, community)
    await svc.surveys.open(OWNER, survey.id)
    for who in ("ann", "bob", "cat"):
        await svc.surveys.submit(person(who), survey.id, _answers(3, 5, "docs", ["crm"], f"from {who}"))
    seen: list[tuple[str, str]] = []
    token = ""
    while True:
        texts, token = await svc.surveys.free_text(person("mo"), survey.id, "q5", 2, token)
        seen += texts
        if not token:
            break
    assert seen == [("cat", "from cat"), ("bob", "from bob"), ("ann", "from ann")]
    with pytest.raises(InvalidArgument) as not_text:
        await svc.surveys.free_text(OWNER, survey.id, "q1", 0, "")
    assert [v.field for v in not_text.value.violations] == ["question_id"]
    with pytest.raises(PermissionDenied):
        await svc.surveys.free_text(person("ann"), survey.id, "q5", 0, "")
    with pytest.raises(PermissionDenied):
        await svc.surveys.results(person("ann"), survey.id)


async def test_surveys_are_validated_and_created_once_per_request_id(svc: MemoryCommunityService) -> None:
    community = await _community(svc)
    first = await _survey(svc, community, "w1")
    again = await _survey(svc, community, "w1")
    assert again.id == first.id
    with pytest.raises(InvalidArgument) as bad:
        await svc.surveys.create(
            OWNER,
            NewSurvey(
                community.id,
                " ",
                [
                    ("", QuestionType.RATING, ["x"]),
                    ("Pick", QuestionType.SINGLE_CHOICE, ["one"]),
                    ("?", None, []),
                ],
                "",
            ),
        )
    assert {v.field for v in bad.value.violations} == {
        "title",
        "questions[0].text",
        "questions[0].options",
        "questions[1].options",
        "questions[2].type",
    }
    with pytest.raises(PermissionDenied):
        await svc.surveys.create(person("mo"), NewSurvey(community.id, "Mine", QUESTIONS, ""))


async def test_answers_are_checked_against_the_questions(svc: MemoryCommunityService) -> None:
    community = await _community(svc)
    survey = await _survey(svc, community)
    await svc.surveys.open(OWNER, survey.id)
    with pytest.raises(InvalidArgument) as bad:
        await svc.surveys.submit(
            person("ann"),
            survey.id,
            [
                Answer("q1", score=6),
                Answer("q1", score=3),
                Answer("q3", choices=("video", "docs")),
                Answer("q4", choices=("nope",)),
                Answer("q9", text="?"),
            ],
        )
    assert [v.field for v in bad.value.violations] == [
        "answers[0]",
        "answers[1].question_id",
        "answers[2]",
        "answers[3]",
        "answers[4].question_id",
    ]
    with pytest.raises(InvalidArgument) as none:
        await svc.surveys.submit(person("ann"), survey.id, [])
    assert [v.field for v in none.value.violations] == ["answers"]
    assert [type(e) for e in svc.survey_store.events] == [SurveyOpened]


async def test_only_members_answer_and_state_changes_follow_the_rules(svc: MemoryCommunityService) -> None:
    community = await _community(svc)
    survey = await _survey(svc, community)
    with pytest.raises(FailedPrecondition) as not_open:
        await svc.surveys.close(OWNER, survey.id)
    assert not_open.value.reason == "SURVEY_NOT_OPEN"
    await svc.surveys.open(OWNER, survey.id)
    with pytest.raises(FailedPrecondition) as not_draft:
        await svc.surveys.open(OWNER, survey.id)
    assert not_draft.value.reason == "SURVEY_NOT_DRAFT"
    with pytest.raises(PermissionDenied):
        await svc.surveys.submit(person("zed"), survey.id, _answers(3, 5, "docs", ["crm"]))
    with pytest.raises(PermissionDenied):
        await svc.surveys.close(person("mo"), survey.id)
    assert (await svc.surveys.get(person("ann"), survey.id)).state == SurveyState.OPEN


async def test_an_archived_community_takes_no_answers_but_closes_its_surveys(
    svc: MemoryCommunityService,
) -> None:
    community = await _community(svc)
    survey = await _survey(svc, community)
    await svc.surveys.open(OWNER, survey.id)
    await svc.communities.change_lifecycle(OWNER, community.id, Lifecycle.ARCHIVED)
    with pytest.raises(FailedPrecondition) as archived:
        await svc.surveys.submit(person("ann"), survey.id, _answers(3, 5, "docs", ["crm"]))
    assert archived.value.reason == "COMMUNITY_ARCHIVED"
    with pytest.raises(FailedPrecondition):
        await svc.surveys.create(OWNER, NewSurvey(community.id, "Late", QUESTIONS, ""))
    assert (await svc.surveys.close(OWNER, survey.id)).state == SurveyState.CLOSED


async def test_a_hidden_communitys_surveys_do_not_exist_for_outsiders(svc: MemoryCommunityService) -> None:
    community = await _community(svc, visibility=Visibility.HIDDEN)
    survey = await _survey(svc, community)
    for attempt in (svc.surveys.get, svc.surveys.open, svc.surveys.results):
        with pytest.raises(NotFound) as hidden:
            await attempt(person("zed"), survey.id)
        assert hidden.value.reason == "COMMUNITY_NOT_FOUND"
    with pytest.raises(NotFound) as missing:
        await svc.surveys.get(OWNER, "no-such-survey")
    assert missing.value.reason == "SURVEY_NOT_FOUND"
    with pytest.raises(InvalidArgument):
        await svc.surveys.get(OWNER, "")
    with pytest.raises(NotFound):
        await svc.surveys.create(person("zed"), NewSurvey("no-such-community", "T", QUESTIONS, ""))

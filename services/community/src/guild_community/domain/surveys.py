"""Learner-feedback surveys: questions, answers, state and results. Pure rules and events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from guild_common.errors import FailedPrecondition, FieldViolation, InvalidArgument, Validator
from guild_common.text import NAME_POLICY, is_clean_name

QUESTIONS_MAX = 10
OPTIONS_MIN, OPTIONS_MAX = 2, 10
TEXT_MAX = 500
ANSWER_TEXT_MAX = 2000
TITLE_MAX = 200


class QuestionType(StrEnum):
    RATING = "rating"
    NPS = "nps"
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    FREE_TEXT = "free_text"


class SurveyState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


SCORES = {QuestionType.RATING: range(1, 6), QuestionType.NPS: range(0, 11)}
CHOICES = (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE)


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    type: QuestionType
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    question_id: str
    score: int = 0
    choices: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class SurveyOpened:
    survey: Survey
    opened_by: str
    region: str
    programme: str


@dataclass(frozen=True)
class SurveyClosed:
    survey: Survey
    closed_by: str
    region: str
    programme: str


@dataclass(frozen=True)
class ResponseSubmitted:
    survey: Survey
    member_id: str
    replaced: bool
    region: str
    programme: str
    time: datetime


SurveyEvent = SurveyOpened | SurveyClosed | ResponseSubmitted


@dataclass
class Survey:
    id: str
    community_id: str
    title: str
    questions: list[Question]
    created_by: str
    create_time: datetime
    state: SurveyState = SurveyState.DRAFT
    open_time: datetime | None = None
    close_time: datetime | None = None
    response_count: int = 0
    events: list[SurveyEvent] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def draft(
        cls,
        *,
        id: str,
        community_id: str,
        title: str,
        questions: list[tuple[str, QuestionType | None, list[str]]],
        created_by: str,
        now: datetime,
    ) -> Survey:
        """A drafted survey from (text, type, options) triples; raises InvalidArgument on bad input."""
        check = Validator()
        check.require(bool(title.strip()) and len(title) <= TITLE_MAX, "title", f"1-{TITLE_MAX} characters")
        check.require(is_clean_name(title), "title", NAME_POLICY)
        check.require(1 <= len(questions) <= QUESTIONS_MAX, "questions", f"1-{QUESTIONS_MAX} questions")
        built: list[Question] = []
        for i, (text, kind, options) in enumerate(questions[:QUESTIONS_MAX]):
            where = f"questions[{i}]"
            check.require(
                bool(text.strip()) and len(text) <= TEXT_MAX, f"{where}.text", f"1-{TEXT_MAX} characters"
            )
            check.require(kind is not None, f"{where}.type", "must be given")
            if kind in CHOICES:
                clean = [o.strip() for o in options]
                check.require(
                    OPTIONS_MIN <= len(clean) <= OPTIONS_MAX and all(clean) and len(set(clean)) == len(clean),
                    f"{where}.options",
                    f"{OPTIONS_MIN}-{OPTIONS_MAX} distinct, non-empty options",
                )
            else:
                clean = []
                check.require(not options, f"{where}.options", "only choice questions have options")
            if kind is not None:
                built.append(Question(f"q{i + 1}", text.strip(), kind, tuple(clean)))
        check.check()
        return cls(id, community_id, title.strip(), built, created_by, now)

    def open(self, actor: str, region: str, programme: str, now: datetime) -> None:
        if self.state != SurveyState.DRAFT:
            raise FailedPrecondition(f"the survey is {self.state.value}", reason="SURVEY_NOT_DRAFT")
        self.state, self.open_time = SurveyState.OPEN, now
        self.events.append(SurveyOpened(self, actor, region, programme))

    def close(self, actor: str, region: str, programme: str, now: datetime) -> None:
        if self.state != SurveyState.OPEN:
            raise FailedPrecondition(f"the survey is {self.state.value}", reason="SURVEY_NOT_OPEN")
        self.state, self.close_time = SurveyState.CLOSED, now
        self.events.append(SurveyClosed(self, actor, region, programme))

    def check_answers(self, answers: list[Answer]) -> list[Answer]:
        """The answers in question order; raises FailedPrecondition unless open, InvalidArgument if bad."""
        if self.state != SurveyState.OPEN:
            raise FailedPrecondition(f"the survey is {self.state.value}", reason="SURVEY_NOT_OPEN")
        by_id = {q.id: q for q in self.questions}
        violations: list[FieldViolation] = []
        seen: dict[str, Answer] = {}
        for i, answer in enumerate(answers):
            where = f"answers[{i}]"
            question = by_id.get(answer.question_id)
            if question is None or answer.question_id in seen:
                violations.append(FieldViolation(f"{where}.question_id", "unknown or repeated question"))
                continue
            problem = _problem(question, answer)
            if problem:
                violations.append(FieldViolation(where, problem))
            seen[answer.question_id] = answer
        if not seen and not violations:
            violations.append(FieldViolation("answers", "answer at least one question"))
        if violations:
            raise InvalidArgument("invalid answers", violations=violations)
        return [seen[q.id] for q in self.questions if q.id in seen]


def _problem(question: Question, answer: Answer) -> str:
    if question.type in SCORES:
        allowed = SCORES[question.type]
        return "" if answer.score in allowed else f"score must be {allowed.start}-{allowed.stop - 1}"
    if question.type in CHOICES:
        unknown = [c for c in answer.choices if c not in question.options]
        if unknown or not answer.choices or len(set(answer.choices)) != len(answer.choices):
            return "choose from the question's options, each once"
        if question.type == QuestionType.SINGLE_CHOICE and len(answer.choices) != 1:
            return "choose exactly one option"
        return ""
    text = answer.text.strip()
    return "" if 0 < len(text) <= ANSWER_TEXT_MAX else f"text must be 1-{ANSWER_TEXT_MAX} characters"


@dataclass(frozen=True)
class QuestionResult:
    question_id: str
    answer_count: int
    average: float
    distribution: dict[str, int]
    net_promoter_score: float


def tally(questions: list[Question], responses: list[list[Answer]]) -> list[QuestionResult]:
    """Counts, means, distributions and NPS per question over all responses."""
    results: list[QuestionResult] = []
    for question in questions:
        answers = [a for response in responses for a in response if a.question_id == question.id]
        distribution: dict[str, int] = {}
        average = nps = 0.0
        if question.type in SCORES:
            distribution = {str(s): 0 for s in SCORES[question.type]}
            for a in answers:
                distribution[str(a.score)] += 1
            if answers:
                average = sum(a.score for a in answers) / len(answers)
            if question.type == QuestionType.NPS and answers:
                promoters = sum(1 for a in answers if a.score >= 9)
                detractors = sum(1 for a in answers if a.score <= 6)
                nps = 100.0 * (promoters - detractors) / len(answers)
        elif question.type in CHOICES:
            distribution = {o: 0 for o in question.options}
            for a in answers:
                for choice in a.choices:
                    distribution[choice] += 1
        results.append(
            QuestionResult(question.id, len(answers), round(average, 4), distribution, round(nps, 2))
        )
    return results

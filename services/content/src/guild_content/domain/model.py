"""Questions and answers: pure domain objects and their rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from guild_common.errors import FailedPrecondition, PermissionDenied, Validator

TITLE_MAX = 200
BODY_MAX = 20_000
TAGS_MAX = 5
TAG = re.compile(r"^[a-z0-9][a-z0-9+#.-]{0,31}$")


class Role(StrEnum):
    MEMBER = "member"
    CHAMPION = "champion"
    CURATOR = "curator"
    MODERATOR = "moderator"
    OWNER = "owner"


MODERATING_ROLES = frozenset({Role.MODERATOR, Role.OWNER})


@dataclass(frozen=True)
class CommunityView:
    """What content knows of a community, learnt from community events."""

    id: str
    region: str
    programme: str
    lifecycle: str
    visibility: str

    def ensure_writable(self) -> None:
        if self.lifecycle == "archived":
            raise FailedPrecondition("the community is archived and read-only", reason="COMMUNITY_ARCHIVED")


@dataclass(frozen=True)
class MembershipView:
    community_id: str
    member_id: str
    role: Role


@dataclass(frozen=True)
class QuestionAsked:
    question: Question


@dataclass(frozen=True)
class AnswerPosted:
    answer: Answer
    question: Question


@dataclass(frozen=True)
class AnswerAccepted:
    answer: Answer
    question: Question
    accepted_by: str
    time: datetime


@dataclass(frozen=True)
class AnswerUnaccepted:
    answer_id: str
    answer_author_id: str
    question: Question
    unaccepted_by: str
    time: datetime


DomainEvent = QuestionAsked | AnswerPosted | AnswerAccepted | AnswerUnaccepted


def normalise_tags(tags: list[str]) -> list[str]:
    """Lowercase, trimmed, spaces to hyphens, de-duplicated in first-seen order."""
    seen: dict[str, None] = {}
    for tag in tags:
        normal = re.sub(r"\s+", "-", tag.strip().lower())
        if normal:
            seen.setdefault(normal, None)
    return list(seen)


@dataclass
class Question:
    id: str
    community_id: str
    author_id: str
    title: str
    body: str
    tags: list[str]
    create_time: datetime
    answer_count: int = 0
    accepted_answer_id: str = ""
    version: int = 1
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def ask(
        cls,
        *,
        id: str,
        community_id: str,
        author_id: str,
        title: str,
        body: str,
        tags: list[str],
        now: datetime,
    ) -> Question:
        normal_tags = normalise_tags(tags)
        check = Validator()
        check.require(bool(title.strip()), "title", "must not be empty")
        check.require(len(title) <= TITLE_MAX, "title", f"at most {TITLE_MAX} characters")
        check.require(len(body) <= BODY_MAX, "body", f"at most {BODY_MAX} characters")
        check.require(len(normal_tags) <= TAGS_MAX, "tags", f"at most {TAGS_MAX} tags")
        for i, tag in enumerate(normal_tags):
            check.require(
                bool(TAG.match(tag)), f"tags[{i}]", "1-32 of a-z 0-9 + # . -, starting alphanumeric"
            )
        check.check()
        question = cls(
            id=id,
            community_id=community_id,
            author_id=author_id,
            title=title.strip(),
            body=body,
            tags=normal_tags,
            create_time=now,
        )
        question.events.append(QuestionAsked(question))
        return question

    def answer(self, *, id: str, author_id: str, body: str, now: datetime) -> Answer:
        check = Validator()
        check.require(bool(body.strip()), "body", "must not be empty")
        check.require(len(body) <= BODY_MAX, "body", f"at most {BODY_MAX} characters")
        check.check()
        answer = Answer(
            id=id,
            question_id=self.id,
            community_id=self.community_id,
            author_id=author_id,
            body=body,
            create_time=now,
        )
        answer.events.append(AnswerPosted(answer, self))
        return answer

    def accept(self, answer: Answer, by: MembershipView, *, previous_author_id: str, now: datetime) -> bool:
        """Accept ``answer``; False if it already is. Only the asker or a moderator may."""
        if by.member_id != self.author_id and by.role not in MODERATING_ROLES:
            raise PermissionDenied("only the asker or a moderator may accept an answer", reason="NOT_ASKER")
        if answer.question_id != self.id:
            raise FailedPrecondition("the answer belongs to another question", reason="ANSWER_MISMATCH")
        if self.accepted_answer_id == answer.id:
            return False
        if self.accepted_answer_id:
            self.events.append(
                AnswerUnaccepted(self.accepted_answer_id, previous_author_id, self, by.member_id, now)
            )
        self.accepted_answer_id = answer.id
        self.events.append(AnswerAccepted(answer, self, by.member_id, now))
        return True


@dataclass
class Answer:
    id: str
    question_id: str
    community_id: str
    author_id: str
    body: str
    create_time: datetime
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

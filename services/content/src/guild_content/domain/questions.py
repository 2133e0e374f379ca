"""Questions and the other top-level posts (one entity for every kind: question, discussion,
article, announcement), their answers and comments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from guild_common.errors import FailedPrecondition, PermissionDenied, Validator
from guild_common.tags import normalise_tags
from guild_content.domain.community import ANNOUNCING_ROLES, MODERATING_ROLES, MembershipView, Role
from guild_content.domain.posts import COMMENT_MAX, POST_KINDS, PostRef, Text, check_body, check_question_text

if TYPE_CHECKING:
    from guild_content.domain.events import DomainEvent


@dataclass(frozen=True)
class QuestionAsked:
    question: Question


@dataclass(frozen=True)
class PostCreated:
    """A discussion, article or announcement was posted (questions announce themselves as QuestionAsked)."""

    post: Question


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


@dataclass(frozen=True)
class CommentPosted:
    comment: Comment
    post: PostRef


def ensure_unlocked(post: Question | Answer | Comment) -> None:
    if post.locked:
        raise FailedPrecondition("the post is locked by a moderator", reason="POST_LOCKED")


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
    score: int = 0
    version: int = 1
    update_time: datetime | None = None
    edit_count: int = 0
    deleted: bool = False
    hidden: bool = False
    locked: bool = False
    # question, or one of TOPIC_KINDS: a post that is not a question has no answers, only comments.
    kind: str = "question"
    # The earlier question this one was marked a duplicate of by a curator; empty when none.
    duplicate_of: str = ""
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    @property
    def text(self) -> Text:
        return Text(self.title, self.body, self.tags)

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
        check_question_text(title, body, normal_tags, check)
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

    def ref(self) -> PostRef:
        return PostRef(self.kind, self.id, self.id, self.community_id, self.author_id)

    @classmethod
    def create(
        cls,
        *,
        kind: str,
        id: str,
        community_id: str,
        author_id: str,
        title: str,
        body: str,
        tags: list[str],
        by: MembershipView,
        now: datetime,
    ) -> Question:
        """A new post of any of POST_KINDS; announcements come from owners and moderators only."""
        check = Validator()
        check.require(kind in POST_KINDS, "kind", "one of " + ", ".join(POST_KINDS))
        check.check()
        if kind == "question":
            return cls.ask(
                id=id,
                community_id=community_id,
                author_id=author_id,
                title=title,
                body=body,
                tags=tags,
                now=now,
            )
        if kind == "announcement" and by.role not in ANNOUNCING_ROLES:
            raise PermissionDenied(
                "only owners and moderators may post announcements",
                reason="NOT_A_MODERATOR",
                metadata={"required_role": Role.MODERATOR.value},
            )
        normal_tags = normalise_tags(tags)
        check_question_text(title, body, normal_tags, check)
        check_body(body, check)
        check.check()
        post = cls(
            id=id,
            community_id=community_id,
            author_id=author_id,
            title=title.strip(),
            body=body,
            tags=normal_tags,
            create_time=now,
            kind=kind,
        )
        post.events.append(PostCreated(post))
        return post

    def withdraw(self, answer: Answer, by: str, now: datetime) -> bool:
        """Withdraw the acceptance of ``answer`` (it is being removed); False if it was not accepted."""
        if self.accepted_answer_id != answer.id:
            return False
        self.accepted_answer_id = ""
        self.events.append(AnswerUnaccepted(answer.id, answer.author_id, self, by, now))
        return True

    def answer(self, *, id: str, author_id: str, body: str, now: datetime) -> Answer:
        check = Validator()
        check_body(body, check)
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
    score: int = 0
    version: int = 1
    update_time: datetime | None = None
    edit_count: int = 0
    deleted: bool = False
    hidden: bool = False
    locked: bool = False
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    kind = "answer"

    @property
    def text(self) -> Text:
        return Text("", self.body, [])

    def ref(self) -> PostRef:
        return PostRef("answer", self.id, self.question_id, self.community_id, self.author_id)


@dataclass
class Comment:
    id: str
    post_id: str
    post_kind: str
    question_id: str
    community_id: str
    author_id: str
    body: str
    create_time: datetime
    version: int = 1
    update_time: datetime | None = None
    edit_count: int = 0
    deleted: bool = False
    hidden: bool = False
    locked: bool = False
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    kind = "comment"

    @classmethod
    def post(cls, *, id: str, on: PostRef, author_id: str, body: str, now: datetime) -> Comment:
        check = Validator()
        check_body(body, check, COMMENT_MAX)
        check.check()
        comment = cls(
            id=id,
            post_id=on.id,
            post_kind=on.kind,
            question_id=on.question_id,
            community_id=on.community_id,
            author_id=author_id,
            body=body,
            create_time=now,
        )
        comment.events.append(CommentPosted(comment, on))
        return comment

    @property
    def text(self) -> Text:
        return Text("", self.body, [])

    def ref(self) -> PostRef:
        return PostRef("comment", self.id, self.question_id, self.community_id, self.author_id)


Post = Question | Answer | Comment

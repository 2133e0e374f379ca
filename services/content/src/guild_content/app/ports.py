"""What the content use cases need from storage and from other services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from guild_content.domain.model import Answer, CommunityView, MembershipView, Question


@dataclass(frozen=True)
class QuestionPage:
    questions: list[Question]
    next_token: str


class QuestionRepository(Protocol):
    async def add_question(self, question: Question, community: CommunityView) -> Question:
        """Store a new question with its events; returns the stored one if the id already exists."""
        ...

    async def get_question(self, question_id: str) -> Question | None: ...

    async def add_answer(self, answer: Answer, community: CommunityView) -> Answer:
        """Store a new answer with its events and count it; returns the stored one if it exists."""
        ...

    async def get_answer(self, answer_id: str) -> Answer | None: ...

    async def save_acceptance(self, question: Question, community: CommunityView) -> bool:
        """Store the question's accepted answer and events if its version is unchanged."""
        ...

    async def list_answers(self, question_id: str, limit: int) -> list[Answer]: ...

    async def list_questions(self, community_id: str, page_size: int, page_token: str) -> QuestionPage: ...


class MembershipDirectory(Protocol):
    """Who belongs where: a local read model fed by community events, read through on a miss."""

    async def community(self, community_id: str) -> CommunityView | None: ...

    async def membership(self, community_id: str, member_id: str) -> MembershipView | None: ...


class MembershipStore(Protocol):
    """The writable side of the membership read model."""

    async def put_community(self, view: CommunityView) -> None: ...

    async def put_membership(self, view: MembershipView) -> None: ...

"""What the question, search and unanswered-queue use cases need: the posts' store and its values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from guild_common.pagination import Page
from guild_content.domain.community import CommunityView
from guild_content.domain.events import DomainEvent
from guild_content.domain.posts import PostRef, PostRemoved, Revision, Text
from guild_content.domain.questions import Answer, Comment, Post, Question
from guild_content.domain.resources import Resource
from guild_content.domain.similarity import Floats, Neighbour


@dataclass(frozen=True)
class IndexedQuestion:
    question: Question
    terms: list[str]
    title_terms: list[str]


@dataclass(frozen=True)
class SearchEntry:
    """What search ranks a post by, without the post: its search document."""

    id: str
    community_id: str
    kind: str
    create_time: datetime
    tags: list[str]
    answered: bool
    terms: list[str]
    title_terms: list[str]


@dataclass(frozen=True)
class StoredHints:
    """A question's similar-question hints (ids, best first) and the community's hint epoch they are of."""

    ids: list[str]
    epoch: int


@dataclass(frozen=True)
class Meaning:
    """What a question stores of its meaning: vector, bucket keys, and the earlier questions like it."""

    vector: bytes
    keys: list[str]
    similar: list[Neighbour]


@dataclass(frozen=True)
class WaitingQuestion:
    """A question of the unanswered queue with its stored hints (None: stored before hints were; epoch
    -1: edited since they were computed) and the earlier questions found meaning the same when asked."""

    question: Question
    hints: StoredHints | None
    similar: list[Neighbour] = field(default_factory=list)


@dataclass(frozen=True)
class PostHit:
    """A post (any kind of the questions store) or a resource found by a search."""

    post: Question | None
    resource: Resource | None
    relevance: int
    matched_terms: list[str]

    @property
    def id(self) -> str:
        return self.post.id if self.post is not None else self.resource.id if self.resource else ""

    @property
    def create_time(self) -> datetime:
        item = self.post if self.post is not None else self.resource
        assert item is not None
        return item.create_time


@dataclass(frozen=True)
class SearchHit:
    question: Question
    relevance: int
    matched_terms: list[str]
    # Cosine of the two questions' meaning vectors; 0 for a hit found by its terms.
    similarity: float = 0.0


@dataclass(frozen=True)
class Asked:
    """A question just asked, with the questions suggested as meaning the same (or its terms' hints)."""

    question: Question
    similar: list[SearchHit]


@dataclass(frozen=True)
class WaitingItem:
    """A question of the unanswered queue: answered questions sharing words of its title (``similar``),
    and the earlier questions found meaning the same when it was asked, still visible (``same_meaning``)."""

    question: Question
    similar: list[SearchHit]
    same_meaning: list[SearchHit]


class QuestionRepository(Protocol):
    async def add_question(
        self,
        question: Question,
        community: CommunityView,
        hints: StoredHints | None = None,
        meaning: Meaning | None = None,
    ) -> Question:
        """Store a new question with its events (and similar-question hints, and its meaning); returns
        the stored one if the id already exists."""
        ...

    async def meaning_candidates(
        self, community_id: str, keys: list[str], limit_per_key: int
    ) -> dict[str, bytes]:
        """The stored vectors of the newest ``limit_per_key`` visible questions of the community having
        each bucket key, by question id."""
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

    async def list_questions(self, community_id: str, page_size: int, page_token: str) -> Page[Question]: ...

    async def list_posts(
        self, community_id: str, kind: str, page_size: int, page_token: str
    ) -> Page[Question]:
        """Visible posts of one kind (every kind when empty), newest first."""
        ...

    async def apply_vote(
        self,
        target: PostRef,
        voter_id: str,
        value: int,
        now: datetime,
        community: CommunityView,
        *,
        question_tags: tuple[str, ...] = (),
        known_score: int | None = None,
    ) -> tuple[int, int]:
        """Store a vote (0 removes it) and move the post's score by the change; (previous value, score).

        ``question_tags`` travel in the ``vote_changed`` event; ``known_score`` is the score as last read.
        """
        ...

    async def add_comment(self, comment: Comment, community: CommunityView) -> Comment: ...

    async def get_post(self, post_id: str) -> Post | None:
        """A question, answer or comment by id, deleted or not."""
        ...

    async def list_comments(self, post_id: str, page_size: int, page_token: str) -> Page[Comment]: ...

    async def save_edit(
        self,
        post: Post,
        text: Text,
        revision: Revision,
        events: list[DomainEvent],
        community: CommunityView,
        meaning: Meaning | None = None,
    ) -> bool:
        """Store an edit if the post's version is unchanged, keeping the previous text (and a question's
        new meaning vector and keys)."""
        ...

    async def list_revisions(self, post_id: str, page_size: int, page_token: str) -> Page[Revision]: ...

    async def mark_deleted(self, removal: PostRemoved, community: CommunityView) -> bool:
        """Soft-delete a post with its events; False if it was deleted already."""
        ...

    async def tag_counts(
        self, community_id: str, page_size: int, page_token: str
    ) -> Page[tuple[str, int]]: ...

    async def unanswered(
        self, community_id: str, asked_before: datetime, page_size: int, page_token: str
    ) -> Page[WaitingQuestion]:
        """Visible questions without answers asked before ``asked_before``, oldest first, with their
        stored similar-question hints."""
        ...

    async def store_hints(
        self, question_id: str, hints: StoredHints, computed_from: StoredHints | None
    ) -> None:
        """Store a question's hints if its stored ones are still ``computed_from`` (the ones read)."""
        ...

    async def hint_epoch(self, community_id: str) -> int:
        """The community's hint epoch: it moves whenever a possible hint appears, changes or goes."""
        ...

    async def hint_changes(self, community_id: str, after: int, upto: int) -> dict[int, str]:
        """The post each epoch in ``(after, upto]`` was moved for, by epoch, as far as logged."""
        ...

    async def term_entries(
        self, community_ids: list[str], term: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[SearchEntry]:
        """The search entries of the newest ``limit`` visible posts (of every kind) having ``term`` in
        the communities, newest first; after ``after``, a ``(create_time, id)`` position, when given.
        One indexed read."""
        ...

    async def title_entries(self, community_ids: list[str], term: str, limit: int) -> list[SearchEntry]:
        """The search entries of the newest ``limit`` visible posts having ``term`` in their title, newest
        first. One indexed read."""
        ...

    async def count_since(self, community_ids: list[str], term: str, since: datetime) -> int:
        """How many visible posts having ``term`` were created at ``since`` or later."""
        ...

    async def visible_posts(self, post_ids: list[str]) -> dict[str, IndexedQuestion]:
        """The visible posts (of the questions store) among ``post_ids``, by id: one batched read."""
        ...


class Embedder(Protocol):
    def embed(self, text: str) -> Floats:
        """The unit meaning vector of ``text``."""
        ...

    def embed_many(self, texts: list[str]) -> list[Floats]:
        """The unit meaning vectors of many texts at once."""
        ...

"""What the content use cases need from storage and from other services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from guild_common.pagination import Page
from guild_content.domain.community import CommunityView, MembershipView, Role
from guild_content.domain.curation import Collection, Feature
from guild_content.domain.duplicates import DuplicateMarked
from guild_content.domain.events import DomainEvent
from guild_content.domain.moderation import Flag, ModerationEntry
from guild_content.domain.posts import PostRef, PostRemoved, Revision, Text
from guild_content.domain.questions import Answer, Comment, Post, Question
from guild_content.domain.resources import RatingSummary, Resource, Review
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
class IndexedResource:
    resource: Resource
    terms: list[str]
    title_terms: list[str]


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


@dataclass(frozen=True)
class QueueItem:
    post: PostRef
    excerpt: str
    flag_count: int
    reasons: list[str]
    hidden: bool
    queue_time: datetime


class ResourceRepository(Protocol):
    async def add_resource(self, resource: Resource, community: CommunityView) -> tuple[Resource, bool]:
        """Store a new resource; (stored resource, True) if its id or URL was there already."""
        ...

    async def get_resource(self, resource_id: str) -> Resource | None: ...

    async def list_resources(
        self, community_id: str, top_rated: bool, page_size: int, page_token: str
    ) -> Page[Resource]: ...

    async def rate(
        self, item: Resource, rater_id: str, stars: int, review: str, now: datetime, community: CommunityView
    ) -> tuple[int, RatingSummary]:
        """Store a member's rating and move the item's counts by it; (previous stars, summary)."""
        ...

    async def list_reviews(self, item_id: str, page_size: int, page_token: str) -> Page[Review]: ...

    async def mark_outdated(
        self, item: Resource, member_id: str, now: datetime, community: CommunityView
    ) -> int:
        """Record a member's outdated mark once; returns the item's number of marks."""
        ...

    async def list_outdated(self, community_id: str, page_size: int, page_token: str) -> Page[Resource]: ...

    async def search_candidates(
        self, community_ids: list[str], query_terms: list[str], tag: str, limit: int
    ) -> list[IndexedResource]:
        """Resources sharing a term with the query: per term at most ``limit`` of the newest; each once."""
        ...


class ModerationRepository(Protocol):
    async def add_flag(self, flag: Flag) -> bool:
        """Store the flag; False if the member flagged this post before."""
        ...

    async def count_flags(self, flag: Flag, threshold: int, community: CommunityView) -> tuple[int, bool]:
        """Count a new flag into the post, hide it when flags first reach the threshold; (count, hidden)."""
        ...

    async def set_state(
        self, ref: PostRef, fields: dict[str, bool], event: DomainEvent, community: CommunityView
    ) -> dict[str, Any]:
        """Set hidden or locked on a post with the event for its author; returns the post's state."""
        ...

    async def resolve(self, entry: ModerationEntry, hidden: bool) -> None:
        """Log a moderator's action and take the post off the queue."""
        ...

    async def queue(self, community_id: str, page_size: int, page_token: str) -> Page[QueueItem]: ...

    async def moderation_log(
        self, community_id: str, page_size: int, page_token: str
    ) -> Page[ModerationEntry]: ...


class Embedder(Protocol):
    def embed(self, text: str) -> Floats:
        """The unit meaning vector of ``text``."""
        ...

    def embed_many(self, texts: list[str]) -> list[Floats]:
        """The unit meaning vectors of many texts at once."""
        ...


class CurationRepository(Protocol):
    async def mark_duplicate(self, mark: DuplicateMarked, community: CommunityView) -> str:
        """Point the question at the one it duplicates (with the event) unless it points somewhere
        already; returns what it points to after the call ("" if the question is gone)."""
        ...

    async def unmark_duplicate(self, mark: DuplicateMarked, community: CommunityView) -> bool:
        """Clear the question's pointer if it is ``mark.duplicate_of`` (with the event); whether it was."""
        ...

    async def add_collection(self, collection: Collection) -> Collection:
        """Store a new collection; returns the stored one if the id exists already."""
        ...

    async def get_collection(self, collection_id: str) -> Collection | None: ...

    async def change_collection(
        self, collection_id: str, change: Callable[[Collection], object], community: CommunityView
    ) -> Collection:
        """Apply ``change`` to the stored collection and store it with its events, atomically.

        ``change`` may run again on a newer state if the collection changed meanwhile: no side effects.
        """
        ...

    async def list_collections(
        self, community_id: str, published: bool, page_size: int, page_token: str
    ) -> Page[Collection]: ...

    async def set_following(
        self, collection: Collection, member_id: str, follow: bool, now: datetime, community: CommunityView
    ) -> int:
        """Record or drop a member's follow; returns the number of followers after it."""
        ...

    async def is_following(self, collection_id: str, member_id: str) -> bool: ...

    async def feature(self, feature: Feature, community: CommunityView) -> Feature:
        """Put an item on the front page with its events; an item featured already is returned as stored."""
        ...

    async def unfeature(self, feature_id: str) -> bool: ...

    async def list_features(self, community_id: str, page_size: int, page_token: str) -> Page[Feature]: ...


class FeaturedItems(Protocol):
    async def unfeature(self, feature_id: str) -> bool:
        """Take an item off its community's front page; False if it was not on it."""
        ...


@dataclass(frozen=True)
class FeedQuery:
    """One source of a feed: live posts or resources of some communities (or with some tags), in one order.

    ``sort`` is create_time, activity_time or score (always descending, ties by id); ``since`` keeps posts
    created from then on.
    """

    source: str
    sort: str
    community_ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    author_ids: tuple[str, ...] = ()
    since: datetime | None = None


@dataclass(frozen=True)
class FeedEntry:
    post: Question | None
    resource: Resource | None
    # The value the feed sorts by, and the id that breaks ties.
    key: datetime | int
    id: str
    community_id: str
    activity_time: datetime


# What following a tag did: a new follow, nothing (followed already), or nothing (at the limit).
TagFollowResult = Literal["followed", "already", "full"]


class FeedRepository(Protocol):
    async def feed_page(
        self, query: FeedQuery, after: tuple[datetime | int, str] | None, limit: int
    ) -> list[FeedEntry]:
        """Up to ``limit`` entries of the source after the (key, id) position, in feed order."""
        ...

    async def follow_tag(self, member_id: str, tag: str, now: datetime, *, limit: int) -> TagFollowResult:
        """Record the follow with its event, unless the member follows the tag already or ``limit`` tags."""
        ...

    async def unfollow_tag(self, member_id: str, tag: str, now: datetime) -> bool:
        """End the follow with its event; False (no event) if the member did not follow the tag."""
        ...

    async def follows_tag(self, member_id: str, tag: str) -> bool: ...

    async def followed_tags(self, member_id: str, page_size: int, page_token: str) -> Page[str]: ...

    async def followees(self, member_id: str, limit: int) -> list[str]:
        """People the member follows (a read model of community follow events), at most ``limit``."""
        ...


class PersonFollowStore(Protocol):
    async def set_person_follow(
        self, follower_id: str, followee_id: str, active: bool, as_of: datetime
    ) -> None:
        """Record a follow or unfollow unless a later one is recorded already."""
        ...


class MembershipDirectory(Protocol):
    """Who belongs where: a local read model fed by community events, read through on a miss."""

    async def community(self, community_id: str) -> CommunityView | None: ...

    async def membership(self, community_id: str, member_id: str) -> MembershipView | None: ...

    async def communities_of(self, member_id: str) -> list[str]:
        """The communities the member is known to belong to."""
        ...


class MembershipStore(Protocol):
    """The writable side of the membership read model."""

    async def put_community(self, view: CommunityView, as_of: datetime) -> None: ...

    async def set_lifecycle(self, community_id: str, lifecycle: str, as_of: datetime) -> None: ...

    async def update_settings(
        self, community_id: str, visibility: str, flag_threshold: int, as_of: datetime
    ) -> None: ...

    async def put_membership(self, view: MembershipView, as_of: datetime) -> None: ...

    async def remove_membership(self, community_id: str, member_id: str, as_of: datetime) -> None: ...

    async def set_role(self, community_id: str, member_id: str, role: Role, as_of: datetime) -> None: ...

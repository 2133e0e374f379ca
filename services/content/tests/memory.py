"""In-memory implementations of the content service's ports, for fast tests of the use cases and handlers.

They keep the contract of the MongoDB stores (``guild_content.adapters``) where the use cases can see it,
and ``test_store_contract`` runs the same tests on both: adds are idempotent and return what is stored,
guarded writes (version, hint epoch) refuse a stale state as the stores do, lists page in the stores'
order behind signed tokens (``guild_testing.memory.keyset_page``), and every write records the domain
events it would publish, in order, in one shared ``events`` list (the stores queue them on the document
they write; the relay publishes them from there).

Search is kept to its contract, not its ranking: the entries of visible posts having a term, newest first.
No method awaits between reading and writing its state, so each write is atomic however many tasks run.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc
import numpy as np

from guild.content.v1 import content_service_pb2_grpc as api_grpc
from guild_common.auth import Principal
from guild_common.errors import NotFound
from guild_common.events.envelope import Envelope
from guild_common.pagination import Page
from guild_content.adapters.outbound_events import member_envelope, to_envelopes
from guild_content.app.curation import CurationUseCases
from guild_content.app.feed_handlers import FeedHandlers
from guild_content.app.feeds import FeedUseCases
from guild_content.app.membership_handlers import MembershipHandlers
from guild_content.app.moderation import ModerationUseCases
from guild_content.app.ports import (
    Embedder,
    FeedEntry,
    FeedQuery,
    IndexedQuestion,
    IndexedResource,
    Meaning,
    QueueItem,
    SearchEntry,
    StoredHints,
    TagFollowResult,
    WaitingQuestion,
)
from guild_content.app.post_search import SearchUseCases
from guild_content.app.questions import QuestionUseCases
from guild_content.app.resources import ResourceUseCases
from guild_content.app.unanswered import UnansweredQueue
from guild_content.bootstrap import SERVICE_NAME
from guild_content.config import ContentSettings
from guild_content.domain.community import CommunityView, MembershipView, Role
from guild_content.domain.curation import Collection, CollectionFollowed, Feature
from guild_content.domain.duplicates import DuplicateMarked
from guild_content.domain.events import DomainEvent
from guild_content.domain.feeds import TagFollowed, TagUnfollowed
from guild_content.domain.moderation import Flag, ModerationEntry, PostFlagged, PostHidden
from guild_content.domain.posts import (
    POST_KINDS,
    TOPIC_KINDS,
    PostRef,
    PostRemoved,
    Revision,
    Text,
    VoteChanged,
)
from guild_content.domain.questions import Answer, Comment, Post, Question
from guild_content.domain.resources import ItemMarkedOutdated, ItemRated, RatingSummary, Resource, Review
from guild_content.domain.search import IndexedText, terms
from guild_content.domain.similarity import DIM, Floats, Neighbour, unit
from guild_content.entrypoints.grpc.content_service import ContentServicer
from guild_testing.memory import SteppingClock, keyset_page, serving_in_memory

# The most communities of one member that searches and feeds look in (as the read model).
COMMUNITIES_MAX = 1000
EXCERPT_MAX = 200


async def _turn() -> None:
    """Let other tasks run, as a store's round trip does, while each store operation stays atomic."""
    await asyncio.sleep(0)


def _ms(t: datetime) -> datetime:
    """A time as the stores keep it: to the millisecond."""
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def _older(stored: datetime | None, as_of: datetime) -> bool:
    return stored is None or stored < _ms(as_of)


# --- membership directory ----------------------------------------------------------------------------


@dataclass
class _CommunityRecord:
    region: str = ""
    programme: str = ""
    lifecycle: str = ""
    visibility: str = ""
    flag_threshold: int = 0
    lifecycle_time: datetime | None = None
    settings_time: datetime | None = None
    known: bool = False  # region and lifecycle recorded: a community the read model can answer for


@dataclass
class _MembershipRecord:
    role: Role = Role.MEMBER
    active: bool = True
    join_time: datetime | None = None
    left_time: datetime | None = None
    role_time: datetime | None = None


class MemoryMembershipDirectory:
    """``MembershipDirectory`` and ``MembershipStore`` on two dicts: the read model with nothing to read
    through to. Each fact keeps the time it is true as of; an older fact never overwrites a newer one."""

    def __init__(self) -> None:
        self._communities: dict[str, _CommunityRecord] = {}
        self._memberships: dict[tuple[str, str], _MembershipRecord] = {}

    # set-up helpers of the tests (not of the port)

    def add_community(
        self, community_id: str, *, visibility: str = "open", lifecycle: str = "live", flag_threshold: int = 0
    ) -> CommunityView:
        self._communities[community_id] = _CommunityRecord(
            "emea", "induction", lifecycle, visibility, flag_threshold, known=True
        )
        return CommunityView(community_id, "emea", "induction", lifecycle, visibility, flag_threshold)

    def add_member(self, community_id: str, member_id: str, role: Role = Role.MEMBER) -> None:
        self._memberships[(community_id, member_id)] = _MembershipRecord(role)

    # MembershipStore

    async def put_community(self, view: CommunityView, as_of: datetime) -> None:
        await _turn()
        record = self._communities.setdefault(view.id, _CommunityRecord())
        record.region, record.programme = view.region, view.programme
        if _older(record.lifecycle_time, as_of):
            record.lifecycle, record.lifecycle_time = view.lifecycle, _ms(as_of)
        if _older(record.settings_time, as_of):
            record.visibility, record.settings_time = view.visibility, _ms(as_of)
            if view.flag_threshold:
                record.flag_threshold = view.flag_threshold
        record.known = True

    async def update_settings(
        self, community_id: str, visibility: str, flag_threshold: int, as_of: datetime
    ) -> None:
        await _turn()
        record = self._communities.get(community_id)
        if record is not None and not _older(record.settings_time, as_of):
            return
        record = self._communities.setdefault(community_id, _CommunityRecord())
        record.settings_time = _ms(as_of)
        if visibility:
            record.visibility = visibility
        if flag_threshold > 0:
            record.flag_threshold = flag_threshold

    async def set_lifecycle(self, community_id: str, lifecycle: str, as_of: datetime) -> None:
        await _turn()
        record = self._communities.get(community_id)
        if record is not None and _older(record.lifecycle_time, as_of):
            record.lifecycle, record.lifecycle_time = lifecycle, _ms(as_of)

    async def put_membership(self, view: MembershipView, as_of: datetime) -> None:
        await _turn()
        key = (view.community_id, view.member_id)
        record = self._memberships.get(key)
        if record is not None and not _older(record.left_time, as_of):
            return  # they left after this; a stale join
        record = self._memberships.setdefault(key, _MembershipRecord(view.role, role_time=None))
        record.active, record.join_time = True, _ms(as_of)
        if _older(record.role_time, as_of):
            record.role, record.role_time = view.role, _ms(as_of)

    async def remove_membership(self, community_id: str, member_id: str, as_of: datetime) -> None:
        await _turn()
        key = (community_id, member_id)
        record = self._memberships.get(key)
        if record is not None and not _older(record.join_time, as_of):
            return  # they joined again after this; a stale leave
        record = self._memberships.setdefault(key, _MembershipRecord(Role.MEMBER))
        record.active, record.left_time = False, _ms(as_of)

    async def set_role(self, community_id: str, member_id: str, role: Role, as_of: datetime) -> None:
        await _turn()
        key = (community_id, member_id)
        record = self._memberships.get(key)
        if record is not None and not _older(record.role_time, as_of):
            return
        record = self._memberships.setdefault(key, _MembershipRecord(role, active=True))
        record.role, record.role_time = role, _ms(as_of)

    # MembershipDirectory

    async def community(self, community_id: str) -> CommunityView | None:
        await _turn()
        record = self._communities.get(community_id)
        if record is None or not record.known:
            return None
        return CommunityView(
            community_id,
            record.region,
            record.programme,
            record.lifecycle,
            record.visibility or "open",
            record.flag_threshold,
        )

    async def membership(self, community_id: str, member_id: str) -> MembershipView | None:
        await _turn()
        record = self._memberships.get((community_id, member_id))
        if record is None or not record.active:
            return None
        return MembershipView(community_id, member_id, record.role)

    async def communities_of(self, member_id: str) -> list[str]:
        await _turn()
        found = sorted(c for (c, m), r in self._memberships.items() if m == member_id and r.active)
        return found[:COMMUNITIES_MAX]


# --- posts -------------------------------------------------------------------------------------------


@dataclass
class _Stored:
    """A question-store post with what the store keeps beside the entity."""

    post: Question
    hints: StoredHints | None = None
    vector: bytes | None = None
    keys: list[str] = field(default_factory=list)
    similar: list[Neighbour] = field(default_factory=list)
    activity_time: datetime | None = None


P = TypeVar("P", Question, Answer, Comment)


def _copy(post: P) -> P:
    copied = replace(post, events=[])
    if isinstance(copied, Question):
        copied.tags = list(copied.tags)
    return copied


def _visible(post: Post) -> bool:
    return not post.deleted and not post.hidden


def _is_question(post: Question) -> bool:
    return post.kind not in TOPIC_KINDS


def _newest_first(post: Question) -> tuple[datetime, str]:
    return (post.create_time, post.id)


class MemoryQuestionRepository:
    """``QuestionRepository``: questions and the other top-level posts, answers, comments, votes,
    revisions, similar-question hints and the communities' hint epochs, and the posts' search entries
    (computed from the stored posts: always in step, as the stores' search documents are once synced)."""

    def __init__(self, events: list[object] | None = None) -> None:
        self.events: list[object] = [] if events is None else events
        self._questions: dict[str, _Stored] = {}
        self._answers: dict[str, Answer] = {}
        self._comments: dict[str, Comment] = {}
        self._votes: dict[tuple[str, str], int] = {}
        self._revisions: dict[str, dict[int, Revision]] = {}
        self._epochs: dict[str, int] = {}
        self._changes: dict[str, dict[int, str]] = {}

    # helpers shared with the moderation store

    def stored_post(self, ref: PostRef) -> Question | Answer | Comment | None:
        """The stored post itself (not a copy), of the collection ``ref.kind`` is kept in."""
        if ref.kind in POST_KINDS:
            stored = self._questions.get(ref.id)
            return stored.post if stored else None
        if ref.kind == "answer":
            return self._answers.get(ref.id)
        return self._comments.get(ref.id)

    def records(self) -> list[_Stored]:
        """Every stored post with what is kept beside it (for the feed store)."""
        return list(self._questions.values())

    def hint_changed(self, community_id: str, post_id: str) -> None:
        epoch = self._epochs.get(community_id, 0) + 1
        self._epochs[community_id] = epoch
        self._changes.setdefault(community_id, {})[epoch] = post_id

    def synced(self, post: Question, hints_changed: bool | None = None) -> None:
        """What a write changing the post's search document does to the hint epoch (``SearchIndex.sync``)."""
        if hints_changed is None:
            hints_changed = _is_question(post) and post.answer_count > 0
        if hints_changed:
            self.hint_changed(post.community_id, post.id)

    def _publish(self, events: list[Any]) -> None:
        self.events.extend(events)
        events.clear()

    # QuestionRepository

    async def add_question(
        self,
        question: Question,
        community: CommunityView,
        hints: StoredHints | None = None,
        meaning: Meaning | None = None,
    ) -> Question:
        await _turn()
        existing = self._questions.get(question.id)
        if existing is not None:
            return _copy(existing.post)
        stored = _Stored(_copy(question), hints, activity_time=question.create_time)
        if meaning is not None:
            stored.vector, stored.keys, stored.similar = meaning.vector, list(meaning.keys), meaning.similar
        self._questions[question.id] = stored
        self._publish(question.events)
        return question

    async def meaning_candidates(
        self, community_id: str, keys: list[str], limit_per_key: int
    ) -> dict[str, bytes]:
        await _turn()
        found: dict[str, bytes] = {}
        for key in keys:
            having = [
                s
                for s in self._questions.values()
                if s.post.community_id == community_id and _visible(s.post) and key in s.keys
            ]
            having.sort(key=lambda s: _newest_first(s.post), reverse=True)
            for s in having[:limit_per_key]:
                if s.vector is not None and _is_question(s.post):
                    found[s.post.id] = s.vector
        return found

    async def get_question(self, question_id: str) -> Question | None:
        await _turn()
        stored = self._questions.get(question_id)
        return _copy(stored.post) if stored else None

    async def add_answer(self, answer: Answer, community: CommunityView) -> Answer:
        await _turn()
        if answer.id in self._answers:
            return _copy(self._answers[answer.id])
        self._answers[answer.id] = _copy(answer)
        self._publish(answer.events)
        stored = self._questions.get(answer.question_id)
        if stored is not None:
            stored.post.answer_count += 1
            stored.activity_time = max(stored.activity_time or answer.create_time, answer.create_time)
            self.synced(stored.post, hints_changed=stored.post.answer_count == 1)
        return answer

    async def get_answer(self, answer_id: str) -> Answer | None:
        await _turn()
        answer = self._answers.get(answer_id)
        return _copy(answer) if answer else None

    async def save_acceptance(self, question: Question, community: CommunityView) -> bool:
        await _turn()
        stored = self._questions.get(question.id)
        if stored is None or stored.post.version != question.version:
            return False
        stored.post.accepted_answer_id = question.accepted_answer_id
        stored.post.version += 1
        question.version += 1
        self._publish(question.events)
        return True

    async def list_answers(self, question_id: str, limit: int) -> list[Answer]:
        await _turn()
        found = [a for a in self._answers.values() if a.question_id == question_id and _visible(a)]
        found.sort(key=lambda a: (a.create_time, a.id))
        return [_copy(a) for a in found[:limit]]

    def _listed(self, community_id: str, keep: Callable[[Question], bool]) -> list[Question]:
        return [
            s.post
            for s in self._questions.values()
            if s.post.community_id == community_id and _visible(s.post) and keep(s.post)
        ]

    async def list_questions(self, community_id: str, page_size: int, page_token: str) -> Page[Question]:
        await _turn()
        found = self._listed(community_id, _is_question)
        page = keyset_page(found, _newest_first, page_token, page_size, descending=True)
        return Page([_copy(q) for q in page.items], page.next_token)

    async def list_posts(
        self, community_id: str, kind: str, page_size: int, page_token: str
    ) -> Page[Question]:
        await _turn()
        if kind == "question":
            found = self._listed(community_id, _is_question)
        else:
            found = self._listed(community_id, lambda p: not kind or p.kind == kind)
        page = keyset_page(found, _newest_first, page_token, page_size, descending=True)
        return Page([_copy(q) for q in page.items], page.next_token)

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
        await _turn()
        key = (target.id, voter_id)
        previous = self._votes.get(key, 0)
        if value:
            self._votes[key] = value
        else:
            self._votes.pop(key, None)
        post = self.stored_post(target)
        if not isinstance(post, Question | Answer):
            return previous, 0
        if previous == value:
            return previous, post.score
        post.score += value - previous
        self.events.append(VoteChanged(target, voter_id, previous, value, post.score, now, question_tags))
        return previous, post.score

    async def add_comment(self, comment: Comment, community: CommunityView) -> Comment:
        await _turn()
        if comment.id in self._comments:
            return _copy(self._comments[comment.id])
        self._comments[comment.id] = _copy(comment)
        self._publish(comment.events)
        stored = self._questions.get(comment.question_id)
        if stored is not None and stored.activity_time is not None:
            stored.activity_time = max(stored.activity_time, comment.create_time)
        return comment

    async def get_post(self, post_id: str) -> Post | None:
        await _turn()
        if post_id in self._questions:
            return _copy(self._questions[post_id].post)
        if post_id in self._answers:
            return _copy(self._answers[post_id])
        comment = self._comments.get(post_id)
        return _copy(comment) if comment else None

    async def list_comments(self, post_id: str, page_size: int, page_token: str) -> Page[Comment]:
        await _turn()
        found = [c for c in self._comments.values() if c.post_id == post_id and _visible(c)]
        page = keyset_page(found, lambda c: (c.create_time, c.id), page_token, page_size)
        return Page([_copy(c) for c in page.items], page.next_token)

    async def save_edit(
        self,
        post: Post,
        text: Text,
        revision: Revision,
        events: list[DomainEvent],
        community: CommunityView,
        meaning: Meaning | None = None,
    ) -> bool:
        await _turn()
        stored = self.stored_post(post.ref())
        if stored is None or stored.version != post.version:
            return False
        self._revisions.setdefault(post.id, {})[revision.number] = revision
        stored.body, stored.update_time = text.body, revision.edit_time
        stored.version += 1
        stored.edit_count += 1
        self.events.extend(events)
        if isinstance(stored, Question):
            record = self._questions[post.id]
            stored.title, stored.tags = text.title, list(text.tags)
            # its own hints are of its previous title
            record.hints = StoredHints(record.hints.ids if record.hints else [], -1)
            if meaning is not None:
                record.vector, record.keys = meaning.vector, list(meaning.keys)
            self.synced(stored)
        return True

    async def list_revisions(self, post_id: str, page_size: int, page_token: str) -> Page[Revision]:
        await _turn()
        found = list(self._revisions.get(post_id, {}).values())
        return keyset_page(found, lambda r: (r.number,), page_token, page_size, descending=True)

    async def mark_deleted(self, removal: PostRemoved, community: CommunityView) -> bool:
        await _turn()
        ref = removal.post
        stored = self.stored_post(ref)
        if stored is None or stored.deleted:
            return False
        stored.deleted = True
        stored.version += 1
        self.events.append(removal)
        if isinstance(stored, Question):
            self.synced(stored)
        if ref.kind == "answer" and (question := self._questions.get(ref.question_id)) is not None:
            question.post.answer_count -= 1
            self.synced(question.post, hints_changed=question.post.answer_count == 0)
        return True

    async def tag_counts(self, community_id: str, page_size: int, page_token: str) -> Page[tuple[str, int]]:
        await _turn()
        counts: dict[str, int] = {}
        for post in self._listed(community_id, lambda p: True):
            for tag in post.tags:
                counts[tag] = counts.get(tag, 0) + 1
        return keyset_page(counts.items(), lambda tc: (-tc[1], tc[0]), page_token, page_size)

    def _entries(self, community_ids: list[str], keep: Callable[[IndexedText], bool]) -> list[SearchEntry]:
        found = []
        for s in self._questions.values():
            post = s.post
            if post.community_id not in community_ids or not _visible(post):
                continue
            indexed = IndexedText.of(post.title, post.body, post.tags)
            if keep(indexed):
                found.append(
                    SearchEntry(
                        id=post.id,
                        community_id=post.community_id,
                        kind=post.kind,
                        create_time=post.create_time,
                        tags=list(post.tags),
                        answered=post.answer_count > 0,
                        terms=indexed.terms,
                        title_terms=indexed.title_terms,
                    )
                )
        found.sort(key=lambda e: (e.create_time, e.id), reverse=True)
        return found

    async def term_entries(
        self, community_ids: list[str], term: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[SearchEntry]:
        await _turn()
        found = self._entries(community_ids, lambda i: term in i.terms)
        if after is not None:
            found = [e for e in found if (e.create_time, e.id) < after]
        return found[:limit]

    async def title_entries(self, community_ids: list[str], term: str, limit: int) -> list[SearchEntry]:
        await _turn()
        return self._entries(community_ids, lambda i: term in i.title_terms)[:limit]

    async def count_since(self, community_ids: list[str], term: str, since: datetime) -> int:
        await _turn()
        return sum(
            1 for e in self._entries(community_ids, lambda i: term in i.terms) if e.create_time >= since
        )

    async def visible_posts(self, post_ids: list[str]) -> dict[str, IndexedQuestion]:
        await _turn()
        found = {}
        for post_id in dict.fromkeys(post_ids):
            stored = self._questions.get(post_id)
            if stored is not None and _visible(stored.post):
                post = stored.post
                indexed = IndexedText.of(post.title, post.body, post.tags)
                found[post_id] = IndexedQuestion(_copy(post), indexed.terms, indexed.title_terms)
        return found

    async def unanswered(
        self, community_id: str, asked_before: datetime, page_size: int, page_token: str
    ) -> Page[WaitingQuestion]:
        await _turn()
        found = [
            s
            for s in self._questions.values()
            if s.post.community_id == community_id
            and s.post.answer_count == 0
            and s.post.create_time < asked_before
            and _is_question(s.post)
            and _visible(s.post)
        ]
        page = keyset_page(found, lambda s: _newest_first(s.post), page_token, page_size)
        return Page(
            [WaitingQuestion(_copy(s.post), s.hints, list(s.similar)) for s in page.items], page.next_token
        )

    async def store_hints(
        self, question_id: str, hints: StoredHints, computed_from: StoredHints | None
    ) -> None:
        await _turn()
        stored = self._questions.get(question_id)
        if stored is None:
            return
        read = None if computed_from is None else computed_from.epoch
        if (stored.hints.epoch if stored.hints else None) == read:
            stored.hints = StoredHints(list(hints.ids), hints.epoch)

    async def hint_epoch(self, community_id: str) -> int:
        await _turn()
        return self._epochs.get(community_id, 0)

    async def hint_changes(self, community_id: str, after: int, upto: int) -> dict[int, str]:
        await _turn()
        changes = self._changes.get(community_id, {})
        return {e: changes[e] for e in sorted(changes) if after < e <= upto}


# --- moderation --------------------------------------------------------------------------------------


@dataclass
class _Queued:
    ref: PostRef
    excerpt: str
    flag_count: int
    reasons: set[str]
    hidden: bool
    queue_time: datetime
    pending: bool = True


class MemoryModerationRepository:
    """``ModerationRepository`` over the posts of a :class:`MemoryQuestionRepository`: flags, the queue
    and the log; hiding and locking write the posts the question store holds, with their events."""

    def __init__(self, posts: MemoryQuestionRepository) -> None:
        self._posts = posts
        self.events = posts.events
        self._flags: dict[str, Flag] = {}
        self._counts: dict[str, tuple[int, bool]] = {}  # post id: (flag count, auto-hidden)
        self._queue: dict[str, _Queued] = {}
        self._log: list[ModerationEntry] = []
        self._ids = (f"m{i:06d}" for i in range(1, 1_000_000))

    async def add_flag(self, flag: Flag) -> bool:
        await _turn()
        key = f"{flag.post.id}:{flag.member_id}"
        if key in self._flags:
            return False
        self._flags[key] = flag
        return True

    async def count_flags(self, flag: Flag, threshold: int, community: CommunityView) -> tuple[int, bool]:
        await _turn()
        ref = flag.post
        post = self._posts.stored_post(ref)
        if post is None:
            return 0, False
        count, auto_hidden = self._counts.get(ref.id, (0, False))
        count += 1
        self.events.append(PostFlagged(ref, flag.reason, count, flag.time))
        hides = count >= threshold and not auto_hidden
        if hides:
            if not post.hidden:
                self.events.append(PostHidden(ref, "", f"flagged by {count} members", True, count, flag.time))
            post.hidden = True
            if isinstance(post, Question):
                self._posts.synced(post)
        self._counts[ref.id] = (count, auto_hidden or hides)
        title = post.title if isinstance(post, Question) else ""
        self._queue_flagged(ref, count, flag, post.hidden, (title or post.body)[:EXCERPT_MAX])
        if hides:
            self._log.append(
                ModerationEntry(
                    next(self._ids), ref, "auto_hide", "", f"flagged by {count} members", flag.time
                )
            )
        return count, post.hidden

    def _queue_flagged(self, ref: PostRef, count: int, flag: Flag, hidden: bool, excerpt: str) -> None:
        queued = self._queue.get(ref.id)
        if queued is not None and queued.pending:
            queued.excerpt = excerpt
            queued.flag_count = max(queued.flag_count, count)
            queued.hidden = queued.hidden or hidden
            queued.reasons.add(flag.reason)
        elif queued is not None:  # resolved: a new pending spell starts now
            queued.excerpt, queued.pending, queued.queue_time, queued.hidden = (
                excerpt,
                True,
                flag.time,
                hidden,
            )
            queued.flag_count = max(queued.flag_count, count)
            queued.reasons.add(flag.reason)
        else:
            self._queue[ref.id] = _Queued(ref, excerpt, count, {flag.reason}, hidden, flag.time)

    async def set_state(
        self, ref: PostRef, fields: dict[str, bool], event: DomainEvent, community: CommunityView
    ) -> dict[str, Any]:
        await _turn()
        post = self._posts.stored_post(ref)
        if post is None:
            return {}
        if "hidden" in fields:
            post.hidden = fields["hidden"]
        if "locked" in fields:
            post.locked = fields["locked"]
        self.events.append(event)
        if isinstance(post, Question) and "hidden" in fields:
            self._posts.synced(post)
        return {"hidden": post.hidden, "locked": post.locked}

    async def resolve(self, entry: ModerationEntry, hidden: bool) -> None:
        await _turn()
        self._log.append(entry)
        queued = self._queue.get(entry.post.id)
        if queued is not None:
            queued.pending, queued.hidden = False, hidden

    async def queue(self, community_id: str, page_size: int, page_token: str) -> Page[QueueItem]:
        await _turn()
        found = [q for q in self._queue.values() if q.pending and q.ref.community_id == community_id]
        page = keyset_page(found, lambda q: (q.queue_time, q.ref.id), page_token, page_size)
        return Page(
            [
                QueueItem(q.ref, q.excerpt, q.flag_count, sorted(q.reasons), q.hidden, q.queue_time)
                for q in page.items
            ],
            page.next_token,
        )

    async def moderation_log(
        self, community_id: str, page_size: int, page_token: str
    ) -> Page[ModerationEntry]:
        await _turn()
        found = [e for e in self._log if e.post.community_id == community_id]
        return keyset_page(found, lambda e: (e.time, e.id), page_token, page_size, descending=True)


# --- resources ---------------------------------------------------------------------------------------


@dataclass
class _Rating:
    stars: int
    review: str
    rate_time: datetime


class MemoryResourceRepository:
    """``ResourceRepository``: resources (one per community and URL), ratings per member with the
    item's rating summary, and outdated marks counted once each."""

    def __init__(self, events: list[object] | None = None) -> None:
        self.events: list[object] = [] if events is None else events
        self._resources: dict[str, Resource] = {}
        self._ratings: dict[tuple[str, str], _Rating] = {}
        self._outdated: set[tuple[str, str]] = set()

    def stored(self) -> list[Resource]:
        """Every stored resource itself (for the feed store)."""
        return list(self._resources.values())

    async def add_resource(self, resource: Resource, community: CommunityView) -> tuple[Resource, bool]:
        await _turn()
        by_id = self._resources.get(resource.id)
        if by_id is not None:
            return replace(by_id, events=[]), by_id.url != resource.url
        for stored in self._resources.values():
            if stored.community_id == resource.community_id and stored.url == resource.url:
                return replace(stored, events=[]), True
        self._resources[resource.id] = replace(resource, events=[], tags=list(resource.tags))
        self.events.extend(resource.events)
        resource.events.clear()
        return resource, False

    async def get_resource(self, resource_id: str) -> Resource | None:
        await _turn()
        stored = self._resources.get(resource_id)
        return replace(stored, events=[]) if stored else None

    async def list_resources(
        self, community_id: str, top_rated: bool, page_size: int, page_token: str
    ) -> Page[Resource]:
        await _turn()
        found = [r for r in self._resources.values() if r.community_id == community_id]

        def key(r: Resource) -> tuple[float | int | datetime | str, ...]:
            if top_rated:
                return (round(r.rating.average, 4), r.rating.count, r.create_time, r.id)
            return (r.create_time, r.id)

        page = keyset_page(found, key, page_token, page_size, descending=True)
        return Page([replace(r, events=[]) for r in page.items], page.next_token)

    async def rate(
        self, item: Resource, rater_id: str, stars: int, review: str, now: datetime, community: CommunityView
    ) -> tuple[int, RatingSummary]:
        await _turn()
        replaced = self._ratings.get((item.id, rater_id))
        self._ratings[(item.id, rater_id)] = _Rating(stars, review, now)
        previous = replaced.stars if replaced else 0
        stored = self._resources.get(item.id)
        if stored is None:
            return previous, RatingSummary()
        counts = list(stored.rating.distribution)
        if previous:
            counts[previous - 1] -= 1
        counts[stars - 1] += 1
        stored.rating = RatingSummary.of({s: counts[s - 1] for s in range(1, 6)})
        self.events.append(ItemRated(item.ref(), rater_id, stars, previous, stored.rating, now))
        return previous, stored.rating

    async def list_reviews(self, item_id: str, page_size: int, page_token: str) -> Page[Review]:
        await _turn()
        found = [
            Review(item, rater, r.stars, r.review, r.rate_time)
            for (item, rater), r in self._ratings.items()
            if item == item_id
        ]

        def key(r: Review) -> tuple[datetime, str]:
            return (r.rate_time, f"{r.item_id}:{r.rater_id}")

        return keyset_page(found, key, page_token, page_size, descending=True)

    async def mark_outdated(
        self, item: Resource, member_id: str, now: datetime, community: CommunityView
    ) -> int:
        await _turn()
        stored = self._resources.get(item.id)
        if (item.id, member_id) in self._outdated:
            return stored.outdated_count if stored else 0
        self._outdated.add((item.id, member_id))
        if stored is None:
            return 0
        stored.outdated_count += 1
        self.events.append(ItemMarkedOutdated(item.ref(), member_id, stored.outdated_count, now))
        return stored.outdated_count

    async def list_outdated(self, community_id: str, page_size: int, page_token: str) -> Page[Resource]:
        await _turn()
        found = [
            r for r in self._resources.values() if r.community_id == community_id and r.outdated_count > 0
        ]
        page = keyset_page(found, lambda r: (r.outdated_count, r.id), page_token, page_size, descending=True)
        return Page([replace(r, events=[]) for r in page.items], page.next_token)

    async def search_candidates(
        self, community_ids: list[str], query_terms: list[str], tag: str, limit: int
    ) -> list[IndexedResource]:
        await _turn()
        found: dict[str, IndexedResource] = {}
        for term in query_terms:
            having = []
            for r in self._resources.values():
                indexed = IndexedText.of(r.title, r.summary, r.tags)
                if r.community_id in community_ids and term in indexed.terms:
                    having.append((r, indexed))
            having.sort(key=lambda ri: (ri[0].create_time, ri[0].id), reverse=True)
            for r, indexed in having[:limit]:
                if (not tag or tag in r.tags) and r.id not in found:
                    found[r.id] = IndexedResource(replace(r, events=[]), indexed.terms, indexed.title_terms)
        return list(found.values())


# --- curation ----------------------------------------------------------------------------------------


class MemoryCurationRepository:
    """``CurationRepository`` and ``FeaturedItems``: collections, follows, the front page, and duplicate
    marks written on the posts of a :class:`MemoryQuestionRepository`."""

    def __init__(self, posts: MemoryQuestionRepository) -> None:
        self._posts = posts
        self.events = posts.events
        self._collections: dict[str, Collection] = {}
        self._follows: set[tuple[str, str]] = set()
        self._features: dict[str, tuple[Feature, bool]] = {}

    async def mark_duplicate(self, mark: DuplicateMarked, community: CommunityView) -> str:
        await _turn()
        stored = self._posts.stored_post(mark.question.ref())
        if not isinstance(stored, Question):
            return ""
        if stored.duplicate_of:
            return stored.duplicate_of
        stored.duplicate_of = mark.duplicate_of
        stored.version += 1
        self.events.append(mark)
        return mark.duplicate_of

    async def unmark_duplicate(self, mark: DuplicateMarked, community: CommunityView) -> bool:
        await _turn()
        stored = self._posts.stored_post(mark.question.ref())
        if not isinstance(stored, Question) or stored.duplicate_of != mark.duplicate_of:
            return False
        stored.duplicate_of = ""
        stored.version += 1
        self.events.append(mark)
        return True

    @staticmethod
    def _copy(c: Collection) -> Collection:
        return replace(c, items=list(c.items), events=[])

    async def add_collection(self, collection: Collection) -> Collection:
        await _turn()
        if collection.id in self._collections:
            return self._copy(self._collections[collection.id])
        self._collections[collection.id] = self._copy(collection)
        return collection

    async def get_collection(self, collection_id: str) -> Collection | None:
        await _turn()
        stored = self._collections.get(collection_id)
        return self._copy(stored) if stored else None

    async def change_collection(
        self, collection_id: str, change: Callable[[Collection], object], community: CommunityView
    ) -> Collection:
        await _turn()
        stored = self._collections.get(collection_id)
        if stored is None:
            raise NotFound(f"collection {collection_id} not found", reason="COLLECTION_NOT_FOUND")
        collection = self._copy(stored)
        change(collection)
        follower_count = stored.follower_count
        self._collections[collection_id] = replace(self._copy(collection), follower_count=follower_count)
        self.events.extend(collection.events)
        collection.events.clear()
        return collection

    async def list_collections(
        self, community_id: str, published: bool, page_size: int, page_token: str
    ) -> Page[Collection]:
        await _turn()
        found = [
            c
            for c in self._collections.values()
            if c.community_id == community_id and c.published == published
        ]
        page = keyset_page(found, lambda c: (c.create_time, c.id), page_token, page_size, descending=True)
        return Page([self._copy(c) for c in page.items], page.next_token)

    async def set_following(
        self, collection: Collection, member_id: str, follow: bool, now: datetime, community: CommunityView
    ) -> int:
        await _turn()
        stored = self._collections.get(collection.id)
        key = (collection.id, member_id)
        if follow == (key in self._follows):
            return stored.follower_count if stored else 0
        if not follow:
            self._follows.discard(key)
            if stored is None:
                return 0
            stored.follower_count -= 1
            return stored.follower_count
        self._follows.add(key)
        if stored is None:
            return 0
        stored.follower_count += 1
        self.events.append(CollectionFollowed(collection, member_id, stored.follower_count, now))
        return stored.follower_count

    async def is_following(self, collection_id: str, member_id: str) -> bool:
        await _turn()
        return (collection_id, member_id) in self._follows

    async def feature(self, feature: Feature, community: CommunityView) -> Feature:
        await _turn()
        existing = self._features.get(feature.id)
        if existing is not None and existing[1]:
            return replace(existing[0], events=[])
        self._features[feature.id] = (replace(feature, events=[]), True)
        self.events.extend(feature.events)
        feature.events.clear()
        return feature

    async def unfeature(self, feature_id: str) -> bool:
        await _turn()
        existing = self._features.get(feature_id)
        if existing is None or not existing[1]:
            return False
        self._features[feature_id] = (existing[0], False)
        return True

    async def list_features(self, community_id: str, page_size: int, page_token: str) -> Page[Feature]:
        await _turn()
        found = [f for f, active in self._features.values() if active and f.community_id == community_id]
        page = keyset_page(found, lambda f: (f.feature_time, f.id), page_token, page_size, descending=True)
        return Page([replace(f, events=[]) for f in page.items], page.next_token)


# --- feeds -------------------------------------------------------------------------------------------


class MemoryFeedRepository:
    """``FeedRepository`` and ``PersonFollowStore``: feed sources read from the posts and resources of
    the other in-memory stores, tag follows (at most ``limit`` a member) and followed people."""

    def __init__(self, posts: MemoryQuestionRepository, resources: MemoryResourceRepository) -> None:
        self._posts = posts
        self._resources = resources
        self.events = posts.events
        self._tags: dict[tuple[str, str], datetime] = {}
        self._people: dict[tuple[str, str], tuple[bool, datetime]] = {}

    async def feed_page(
        self, query: FeedQuery, after: tuple[datetime | int, str] | None, limit: int
    ) -> list[FeedEntry]:
        await _turn()
        entries: list[FeedEntry] = []
        if query.source == "posts":
            for s in self._posts.records():
                post = s.post
                if not _visible(post) or not self._wanted(
                    query, post.community_id, post.author_id, post.tags
                ):
                    continue
                if query.since is not None and post.create_time < query.since:
                    continue
                activity = s.activity_time or post.create_time
                key: dict[str, datetime | int] = {
                    "create_time": post.create_time,
                    "activity_time": activity,
                    "score": post.score,
                }
                entries.append(
                    FeedEntry(_copy(post), None, key[query.sort], post.id, post.community_id, activity)
                )
        else:
            for r in self._resources.stored():
                if not self._wanted(query, r.community_id, r.author_id, r.tags):
                    continue
                if query.since is not None and r.create_time < query.since:
                    continue
                key = {"create_time": r.create_time, "activity_time": r.create_time, "score": r.rating.score}
                entries.append(
                    FeedEntry(
                        None, replace(r, events=[]), key[query.sort], r.id, r.community_id, r.create_time
                    )
                )
        entries.sort(key=lambda e: (e.key, e.id), reverse=True)
        if after is not None:
            entries = [e for e in entries if (e.key, e.id) < after]
        return entries[:limit]

    @staticmethod
    def _wanted(query: FeedQuery, community_id: str, author_id: str, tags: list[str]) -> bool:
        return (
            (not query.community_ids or community_id in query.community_ids)
            and (not query.author_ids or author_id in query.author_ids)
            and (not query.tags or any(t in query.tags for t in tags))
        )

    async def follow_tag(self, member_id: str, tag: str, now: datetime, *, limit: int) -> TagFollowResult:
        await _turn()
        if (member_id, tag) in self._tags:
            return "already"
        if sum(1 for m, _ in self._tags if m == member_id) >= limit:
            return "full"
        self._tags[(member_id, tag)] = now
        self.events.append(TagFollowed(member_id, tag, now))
        return "followed"

    async def unfollow_tag(self, member_id: str, tag: str, now: datetime) -> bool:
        await _turn()
        if self._tags.pop((member_id, tag), None) is None:
            return False
        self.events.append(TagUnfollowed(member_id, tag, now))
        return True

    async def follows_tag(self, member_id: str, tag: str) -> bool:
        await _turn()
        return (member_id, tag) in self._tags

    async def followed_tags(self, member_id: str, page_size: int, page_token: str) -> Page[str]:
        await _turn()
        tags = [t for m, t in self._tags if m == member_id]
        return keyset_page(tags, lambda t: (t,), page_token, page_size)

    async def followees(self, member_id: str, limit: int) -> list[str]:
        await _turn()
        return sorted(f for (m, f), (active, _) in self._people.items() if m == member_id and active)[:limit]

    async def set_person_follow(
        self, follower_id: str, followee_id: str, active: bool, as_of: datetime
    ) -> None:
        await _turn()
        key = (follower_id, followee_id)
        held = self._people.get(key)
        if held is None or held[1] < as_of:
            self._people[key] = (active, as_of)


# --- meaning -----------------------------------------------------------------------------------------


class TermEmbedder:
    """``Embedder``: a deterministic bag of terms (each term one hashed component), so texts with the
    same terms mean the same and texts sharing none are orthogonal; instant, unlike the real model."""

    def embed(self, text: str) -> Floats:
        vector = np.zeros(DIM, dtype=np.float32)
        for term in terms(text):
            vector[zlib.crc32(term.encode()) % DIM] += 1.0
        return unit(vector)

    def embed_many(self, texts: list[str]) -> list[Floats]:
        return [self.embed(t) for t in texts]


# --- composition -------------------------------------------------------------------------------------

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def who(subject: str) -> Principal:
    return Principal(subject=subject)


@dataclass
class World:
    """The content use cases and handlers composed on in-memory ports as ``bootstrap.build`` composes
    them; ``events`` is every domain event the writes would publish, in order."""

    directory: MemoryMembershipDirectory
    posts: MemoryQuestionRepository
    resource_store: MemoryResourceRepository
    moderation_store: MemoryModerationRepository
    curation_store: MemoryCurationRepository
    feed_store: MemoryFeedRepository
    clock: SteppingClock
    questions: QuestionUseCases
    search: SearchUseCases
    unanswered: UnansweredQueue
    moderation: ModerationUseCases
    resources: ResourceUseCases
    curation: CurationUseCases
    feeds: FeedUseCases
    membership_handlers: MembershipHandlers
    feed_handlers: FeedHandlers

    @property
    def events(self) -> list[object]:
        return self.posts.events

    def names(self) -> list[str]:
        """The class names of the events recorded so far, in order."""
        return [type(e).__name__ for e in self.events]


def memory_world(
    *,
    flag_threshold: int = 3,
    unanswered_after: timedelta = timedelta(minutes=60),
    embedder: Embedder | None = None,
) -> World:
    directory = MemoryMembershipDirectory()
    posts = MemoryQuestionRepository()
    resources = MemoryResourceRepository(posts.events)
    moderation = MemoryModerationRepository(posts)
    curation = MemoryCurationRepository(posts)
    feeds = MemoryFeedRepository(posts, resources)
    clock = SteppingClock(T0)
    return World(
        directory,
        posts,
        resources,
        moderation,
        curation,
        feeds,
        clock,
        QuestionUseCases(posts, directory, features=curation, embedder=embedder, clock=clock),
        SearchUseCases(posts, directory, resources),
        UnansweredQueue(posts, directory, unanswered_after=unanswered_after, clock=clock),
        ModerationUseCases(
            posts, directory, moderation, flag_threshold=flag_threshold, features=curation, clock=clock
        ),
        ResourceUseCases(resources, directory, clock=clock),
        CurationUseCases(curation, posts, resources, directory, clock=clock),
        FeedUseCases(feeds, directory, clock=clock),
        MembershipHandlers(directory),
        FeedHandlers(feeds),
    )


@asynccontextmanager
async def serving(world: World) -> AsyncIterator[api_grpc.ContentServiceStub]:
    """The content gRPC service on the world's in-memory ports (``serving_in_memory``)."""
    settings = ContentSettings(grpc_host="127.0.0.1", grpc_port=0, rate_limit_per_second=0)
    servicer = ContentServicer(
        world.questions,
        world.search,
        world.unanswered,
        world.moderation,
        world.resources,
        world.curation,
        world.feeds,
    )

    def register(server: grpc.aio.Server) -> list[str]:
        api_grpc.add_ContentServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    async with serving_in_memory(settings, register) as channel:
        yield api_grpc.ContentServiceStub(channel)


def envelopes_of(events: list[object], community: CommunityView) -> list[Envelope]:
    """The envelopes the stores would queue for ``events``, made by the adapters' own functions (tag
    follows are a member's own events, without a community)."""
    made: list[Envelope] = []
    for event in events:
        if isinstance(event, TagFollowed | TagUnfollowed):
            made.append(member_envelope(event))
        else:
            made += to_envelopes([event], community)  # type: ignore[list-item]
    return made

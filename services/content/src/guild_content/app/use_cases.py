"""Content use cases: each method is one command or query."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import (
    Aborted,
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    Validator,
)
from guild_common.ids import id_for_request, new_id
from guild_common.pagination import clamp_page_size
from guild_common.tags import normalise_tags
from guild_content.app.concurrently import both, checked, with_check
from guild_content.app.meaning import meaning_hits, meaning_of, vector_of
from guild_content.app.ports import (
    Asked,
    CommentPage,
    Embedder,
    FeaturedItems,
    IndexedQuestion,
    LogPage,
    MembershipDirectory,
    ModerationRepository,
    PostHit,
    PostSearchPage,
    QuestionPage,
    QuestionRepository,
    QueuePage,
    ResourcePage,
    ResourceRepository,
    ReviewPage,
    RevisionPage,
    SearchHit,
    SearchPage,
    StoredHints,
    TagPage,
    WaitingItem,
    WaitingQuestion,
)
from guild_content.app.search import (
    Ranked,
    after_token,
    next_token,
    ranked_entries,
    read_candidates,
    wanted_by,
)
from guild_content.app.visibility import readable_community
from guild_content.domain.model import (
    MODERATING_ROLES,
    POST_KINDS,
    Answer,
    Comment,
    CommunityView,
    DomainEvent,
    Flag,
    MembershipView,
    MentionMade,
    ModerationEntry,
    Post,
    PostEdited,
    PostHidden,
    PostLocked,
    PostRef,
    PostRemoved,
    PostRestored,
    Question,
    RatingSummary,
    Resource,
    Revision,
    Text,
    check_moderation,
    edited_text,
    ensure_champion,
    ensure_curator,
    ensure_moderator,
    ensure_unlocked,
    is_question_kind,
    mentioned,
)
from guild_content.domain.search import QUERY_TERMS_MAX, TERM_CANDIDATES_MAX, relevance, terms

ACCEPT_ATTEMPTS = 5
# Kinds a search for posts covers: every kind of post, and shared resources.
SEARCH_KINDS = (*POST_KINDS, "resource")
# Similar-question hints of the unanswered queue (up to SIMILAR_HINTS answered questions per question).
# They are computed when a question is asked: per term of its title, the answered questions among the
# HINT_CANDIDATES_PER_TERM newest posts having it, ranked as search ranks. They are stored on the question
# with the community's hint epoch (see ``adapters.search_index``), which moves with a logged change each
# time a question becomes or stops being a possible hint, or a possible hint is edited, deleted, hidden or
# restored. A page of the queue is one indexed read of the questions with their stored hints and one
# batched read of the hint posts; hints stored at an older epoch are brought up to date on that read:
# - the posts logged as changed since join the stored hints, and the best of them are kept (a question
#   answered after one was asked becomes its hint);
# - computed again from the search documents when a stored hint itself changed (it may have dropped
#   out), when the question was edited, when it has none (stored before hints were), or when the log
#   is more than HINT_CHANGES_MAX behind or has a gap (a writer stopped after moving the epoch);
# and written back guarded by the stored epoch read, so a concurrent edit or update is never overwritten.
# This keeps the cost of a change to one small log entry, and a queue read behind by a few changes to a
# slightly larger batched read, instead of a fan-out to every similar waiting question on each answer.
SIMILAR_HINTS = 3
# Ten years: the longest wait the curation queue can be asked for.
MIN_AGE_MINUTES_MAX = 10 * 366 * 24 * 60
HINT_CANDIDATES_PER_TERM = 25
# A page's stored hints are brought up to date from the hint change log while at most this many changes
# behind; further behind, they are computed again.
HINT_CHANGES_MAX = 200
EDIT_ATTEMPTS = 5
C = TypeVar("C")
T = TypeVar("T")


class ContentUseCases:
    def __init__(
        self,
        repository: QuestionRepository,
        directory: MembershipDirectory,
        moderation: ModerationRepository,
        resources: ResourceRepository,
        *,
        flag_threshold: int = 3,
        unanswered_after: timedelta = timedelta(hours=24),
        features: FeaturedItems | None = None,
        embedder: Embedder | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._features = features
        self._embedder = embedder
        self._moderation = moderation
        self._resources = resources
        self._flag_threshold = flag_threshold
        self._unanswered_after = unanswered_after
        self._repo = repository
        self._directory = directory
        self._clock = clock

    async def ask(
        self, caller: Principal, community_id: str, title: str, body: str, tags: list[str], request_id: str
    ) -> Question:
        return (await self.ask_question(caller, community_id, title, body, tags, request_id)).question

    async def ask_question(
        self, caller: Principal, community_id: str, title: str, body: str, tags: list[str], request_id: str
    ) -> Asked:
        """Ask a question; with it, the earlier questions of the community meaning the same (by meaning
        vector), or when none is found, the answered questions its title's terms find."""
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
        await self._mention(question, question.title, question.body)
        meaning, hints = await both(
            meaning_of(question, self._embedder, self._repo), self._hints_of(question)
        )
        stored = await self._repo.add_question(question, community, hints, meaning)
        similar = meaning.similar if meaning is not None else []
        posts = await self._repo.visible_posts([n.id for n in similar] or (hints.ids if hints else []))
        found = meaning_hits(similar, posts)
        if not found and hints is not None:
            usable = [posts[i] for i in hints.ids if i in posts and _possible_hint(posts[i].question)]
            found = _ranked(terms(question.title), usable)[:SIMILAR_HINTS]
        return Asked(stored, found)

    async def create_post(
        self,
        caller: Principal,
        community_id: str,
        kind: str,
        title: str,
        body: str,
        tags: list[str],
        request_id: str,
    ) -> Question:
        """Post a question, discussion, article or announcement (owners and moderators only)."""
        _require(community_id=community_id)
        community, membership = await self._member_of(caller, community_id)
        community.ensure_writable()
        post = Question.create(
            kind=kind,
            id=_id("question" if kind == "question" else "post", caller, request_id),
            community_id=community_id,
            author_id=caller.subject,
            title=title,
            body=body,
            tags=tags,
            by=membership,
            now=self._clock(),
        )
        await self._mention(post, post.title, post.body)
        meaning, hints = await both(meaning_of(post, self._embedder, self._repo), self._hints_of(post))
        return await self._repo.add_question(post, community, hints, meaning)

    async def _hints_of(self, question: Question) -> StoredHints | None:
        """The similar-question hints of a question about to be stored (None for other kinds of post)."""
        if not is_question_kind(question.kind):
            return None
        epoch = await self._repo.hint_epoch(question.community_id)  # read before the candidates
        computed = await self._compute_hints(
            question.community_id, {question.id: terms(question.title)}, epoch
        )
        return computed[question.id]

    async def _compute_hints(
        self, community_id: str, wanted: dict[str, list[str]], epoch: int
    ) -> dict[str, StoredHints]:
        """Hints of each question (by id, with its title's terms): one lookup per distinct term, shared."""
        page_terms = list(dict.fromkeys(term for each in wanted.values() for term in each))
        read = await asyncio.gather(
            *(self._repo.term_entries([community_id], t, HINT_CANDIDATES_PER_TERM, None) for t in page_terms)
        )
        answered = wanted_by(("question",), "", True)
        by_term = {
            t: [e for e in entries if answered(e)] for t, entries in zip(page_terms, read, strict=True)
        }
        computed = {}
        for question_id, title_terms in wanted.items():
            pool = {e.id: e for term in title_terms for e in by_term.get(term, [])}
            pool.pop(question_id, None)
            best = ranked_entries(title_terms, pool.values())[:SIMILAR_HINTS]
            computed[question_id] = StoredHints([r.id for r in best], epoch)
        return computed

    async def get_post(self, caller: Principal, post_id: str) -> Question:
        """A top-level post; hidden ones only for their author and the moderators."""
        post = await self._post(post_id, kinds=POST_KINDS, include_hidden=True)
        assert isinstance(post, Question)
        await self._readable(caller, post.community_id)
        if post.hidden and caller.subject != post.author_id:
            membership = await self._directory.membership(post.community_id, caller.subject)
            if membership is None or membership.role not in MODERATING_ROLES:
                raise NotFound(f"post {post_id} not found", reason="POST_NOT_FOUND")
        return post

    async def list_posts(
        self, caller: Principal, community_id: str, kind: str, page_size: int, page_token: str
    ) -> QuestionPage:
        _require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        check = Validator()
        check.require(not kind or kind in POST_KINDS, "kind", "empty or one of " + ", ".join(POST_KINDS))
        check.check()
        await self._readable(caller, community_id)
        return await self._repo.list_posts(community_id, kind, size, page_token)

    async def answer(self, caller: Principal, question_id: str, body: str, request_id: str) -> Answer:
        question = await self._visible_question(question_id)
        community, _ = await self._member_of(caller, question.community_id)
        community.ensure_writable()
        ensure_unlocked(question)
        answer = question.answer(
            id=_id("answer", caller, request_id), author_id=caller.subject, body=body, now=self._clock()
        )
        await self._mention(answer, answer.body)
        stored = await self._repo.add_answer(answer, community)
        if (stored.question_id, stored.body) != (answer.question_id, answer.body):
            # the request id was first used for another answer: repeating it is not this request
            raise InvalidArgument(
                "request_id was already used for a different answer",
                violations=[FieldViolation("request_id", "already used for a different answer")],
            )
        return stored

    async def accept(self, caller: Principal, question_id: str, answer_id: str) -> Question:
        _require(question_id=question_id, answer_id=answer_id)
        for _ in range(ACCEPT_ATTEMPTS):
            question = await self._visible_question(question_id)
            community, membership = await self._member_of(caller, question.community_id)
            community.ensure_writable()
            answer = await self._repo.get_answer(answer_id)
            if answer is None or answer.deleted or answer.hidden or answer.question_id != question.id:
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
        _, answers = await with_check(
            self._readable(caller, question.community_id), self._repo.list_answers(question.id, limit)
        )
        if question.hidden and caller.subject != question.author_id:
            # Hidden pending review: its author and the moderators still see it.
            membership = await self._directory.membership(question.community_id, caller.subject)
            if membership is None or membership.role not in MODERATING_ROLES:
                raise NotFound(f"question {question_id} not found", reason="QUESTION_NOT_FOUND")
        return question, answers

    async def list_questions(
        self, caller: Principal, community_id: str, page_size: int, page_token: str
    ) -> QuestionPage:
        _require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        await self._readable(caller, community_id)
        return await self._repo.list_questions(community_id, size, page_token)

    async def vote(self, caller: Principal, target_id: str, value: int) -> tuple[PostRef, int]:
        """Set the caller's vote on a question or answer to ``value`` (+1, -1, or 0 to retract).

        Returns the target and its score after the vote. Voting the same way twice changes nothing.
        """
        _require(target_id=target_id)
        if value not in (-1, 0, 1):
            raise InvalidArgument(
                "invalid vote", violations=[FieldViolation("direction", "must be up or down")]
            )
        post = await self._post(target_id, kinds=(*POST_KINDS, "answer"))
        target = post.ref()
        community, _ = await self._member_of(caller, target.community_id)
        community.ensure_writable()
        ensure_unlocked(post)
        target.check_voter(caller.subject)
        _, score = await self._repo.apply_vote(
            target,
            caller.subject,
            value,
            self._clock(),
            community,
            question_tags=await self._question_tags(post),
            known_score=post.score if isinstance(post, Question | Answer) else None,
        )
        return target, score

    async def _question_tags(self, post: Post) -> tuple[str, ...]:
        """The tags of a post's question (its own for a top-level post): events carry them for consumers."""
        if isinstance(post, Question):
            return tuple(post.tags)
        question = await self._repo.get_question(post.question_id)
        return tuple(question.tags) if question else ()

    async def add_comment(self, caller: Principal, post_id: str, body: str, request_id: str) -> Comment:
        post = await self._post(post_id, kinds=(*POST_KINDS, "answer"))
        community, _ = await self._member_of(caller, post.community_id)
        community.ensure_writable()
        ensure_unlocked(post)
        comment = Comment.post(
            id=_id("comment", caller, request_id),
            on=post.ref(),
            author_id=caller.subject,
            body=body,
            now=self._clock(),
        )
        await self._mention(comment, comment.body)
        return await self._repo.add_comment(comment, community)

    async def list_comments(
        self, caller: Principal, post_id: str, page_size: int, page_token: str
    ) -> CommentPage:
        size = clamp_page_size(page_size, default=50, maximum=100)
        post = await self._post(post_id, kinds=(*POST_KINDS, "answer"))
        await self._readable(caller, post.community_id)
        return await self._repo.list_comments(post.id, size, page_token)

    async def edit(self, caller: Principal, post_id: str, new: Text, mask: list[str]) -> tuple[Post, int]:
        """Edit a post's text; returns the post as stored and the revision holding the previous text."""
        for _ in range(EDIT_ATTEMPTS):
            post = await self._post(post_id)
            community, membership = await self._member_of(caller, post.community_id)
            community.ensure_writable()
            post.ref().ensure_may_change(membership)
            ensure_unlocked(post)
            text = edited_text(post.kind, post.text, mask, new)
            now = self._clock()
            number = post.edit_count + 1
            revision = Revision(post.id, number, caller.subject, now, post.text)
            event = PostEdited(post.ref(), caller.subject, number, now)
            named = mentioned(
                text.title, text.body, author_id=post.author_id, before=(post.text.title, post.text.body)
            )
            mentions = [
                MentionMade(m, post.ref(), now) for m in await self._members(post.community_id, named)
            ]
            meaning = vector_of(post.kind, text.title, text.body, self._embedder)
            if await self._repo.save_edit(post, text, revision, [event, *mentions], community, meaning):
                stored = await self._repo.get_post(post.id)
                assert stored is not None
                return stored, number
        raise Aborted("the post changed concurrently; retry", reason="CONCURRENT_UPDATE")

    async def accepted_answer_id(self, question_id: str) -> str:
        question = await self._repo.get_question(question_id)
        return question.accepted_answer_id if question else ""

    async def list_revisions(
        self, caller: Principal, post_id: str, page_size: int, page_token: str
    ) -> RevisionPage:
        size = clamp_page_size(page_size, default=20, maximum=100)
        post = await self._post(post_id)
        await self._readable(caller, post.community_id)
        return await self._repo.list_revisions(post.id, size, page_token)

    async def delete(self, caller: Principal, post_id: str, reason: str) -> PostRef:
        """Soft-delete a post; a deleted accepted answer is no longer accepted."""
        post = await self._post(post_id, include_hidden=True)
        community, membership = await self._member_of(caller, post.community_id)
        community.ensure_writable()
        by_moderator = post.ref().ensure_may_change(membership)
        if by_moderator:
            _require(reason=reason.strip())
        now = self._clock()
        removal = PostRemoved(post.ref(), caller.subject, reason.strip(), by_moderator, now)
        await self._repo.mark_deleted(removal, community)
        await self._after_removal(post, caller.subject, community)
        return post.ref()

    async def _after_removal(self, post: Post, by: str, community: CommunityView) -> None:
        """A deleted answer is no longer accepted; a deleted post leaves the front page."""
        if isinstance(post, Answer):
            await self._withdraw_acceptance(post, by, community)
        elif isinstance(post, Question) and self._features is not None:
            await self._features.unfeature(f"{post.community_id}:post:{post.id}")

    async def _withdraw_acceptance(self, answer: Answer, by: str, community: CommunityView) -> None:
        for _ in range(ACCEPT_ATTEMPTS):
            question = await self._repo.get_question(answer.question_id)
            if question is None or not question.withdraw(answer, by, self._clock()):
                return
            if await self._repo.save_acceptance(question, community):
                return
        raise Aborted("the question changed concurrently; retry", reason="CONCURRENT_UPDATE")

    async def list_tags(
        self, caller: Principal, community_id: str, page_size: int, page_token: str
    ) -> TagPage:
        _require(community_id=community_id)
        size = clamp_page_size(page_size, default=50, maximum=200)
        await self._readable(caller, community_id)
        return await self._repo.tag_counts(community_id, size, page_token)

    async def search(
        self,
        caller: Principal,
        query: str,
        community_id: str,
        tag: str,
        answered: bool | None,
        page_size: int,
        page_token: str,
    ) -> SearchPage:
        """Questions matching the query, most relevant first (then newest), in the caller's communities.

        Pages continue after the last hit's (relevance, time, id), so a page token stays valid while
        questions are added and ranks never repeat or skip a hit that did not change.
        """
        size = clamp_page_size(page_size, default=20, maximum=50)
        wanted = _query_terms(query, "query")
        tag_filter = normalise_tags([tag])[0] if tag.strip() else ""

        def rank(communities: list[str]) -> Awaitable[list[Ranked]]:
            keep = wanted_by(("question",), tag_filter, answered)
            return read_candidates(
                self._repo, communities, wanted, keep, needed=size + 1, page_token=page_token
            )

        ranked = await self._in_searched(caller, community_id, rank)
        page = ranked[:size]
        posts = await self._repo.visible_posts([r.id for r in page])
        hits = [SearchHit(posts[r.id].question, r.relevance, r.matched) for r in page if r.id in posts]
        return SearchPage(hits, next_token(ranked, size))

    async def search_posts(
        self,
        caller: Principal,
        query: str,
        community_id: str,
        kind: str,
        tag: str,
        answered: bool | None,
        page_size: int,
        page_token: str,
    ) -> PostSearchPage:
        """Posts of every kind and resources matching the query, most relevant first (then newest).

        ``answered`` (answered or not) keeps questions only. Pages continue after the last hit's
        (relevance, time, id), as for questions.
        """
        size = clamp_page_size(page_size, default=20, maximum=50)
        wanted = _query_terms(query, "query")
        check = Validator()
        check.require(not kind or kind in SEARCH_KINDS, "kind", "empty or one of " + ", ".join(SEARCH_KINDS))
        check.require(answered is None or kind in ("", "question"), "answered", "applies to questions only")
        check.check()
        communities = await self._searched(caller, community_id)
        if not communities:
            return PostSearchPage([], "")
        tag_filter = normalise_tags([tag])[0] if tag.strip() else ""
        kinds = ("question",) if answered is not None else (kind,) if kind else SEARCH_KINDS
        post_kinds = tuple(k for k in kinds if k in POST_KINDS)
        ranked: list[Ranked] = []
        if post_kinds:
            ranked += await read_candidates(
                self._repo,
                communities,
                wanted,
                wanted_by(post_kinds, tag_filter, answered),
                needed=size + 1,
                page_token=page_token,
            )
        resources = {}
        if "resource" in kinds:
            for found in await self._resources.search_candidates(
                communities, wanted, tag_filter, TERM_CANDIDATES_MAX
            ):
                score, matched = relevance(wanted, found.terms, found.title_terms)
                if score:
                    resource = found.resource
                    resources[resource.id] = resource
                    ranked.append(Ranked(score, matched, resource.id, resource.create_time, None))
        ranked = after_token(sorted(ranked, key=Ranked.key), page_token)
        page = ranked[:size]
        posts = await self._repo.visible_posts([r.id for r in page if r.entry is not None])
        hits = []
        for r in page:
            if r.entry is None:
                hits.append(PostHit(None, resources[r.id], r.relevance, r.matched))
            elif r.id in posts:
                hits.append(PostHit(posts[r.id].question, None, r.relevance, r.matched))
        return PostSearchPage(hits, next_token(ranked, size))

    async def _in_searched(
        self, caller: Principal, community_id: str, read: Callable[[list[str]], Awaitable[list[Ranked]]]
    ) -> list[Ranked]:
        """``read`` of the communities a search looks in (see :meth:`_searched`); a named community is
        read while the caller's access to it is checked."""
        if not community_id:
            communities = await self._directory.communities_of(caller.subject)
            return await read(communities) if communities else []
        return await checked(self._readable(caller, community_id), read([community_id]))

    async def _searched(self, caller: Principal, community_id: str) -> list[str]:
        """The communities a search looks in: the one named (if the caller may read it), else the caller's."""
        if community_id:
            await self._readable(caller, community_id)
            return [community_id]
        return await self._directory.communities_of(caller.subject)

    async def unanswered(
        self, caller: Principal, community_id: str, min_age_minutes: int, page_size: int, page_token: str
    ) -> tuple[list[WaitingItem], str]:
        """The curation queue: questions unanswered for a while, each with similar answered questions (by
        their terms) and the earlier questions found meaning the same when it was asked."""
        _require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=50)
        check = Validator()
        check.require(
            0 <= min_age_minutes <= MIN_AGE_MINUTES_MAX, "min_age_minutes", f"0 to {MIN_AGE_MINUTES_MAX}"
        )
        check.check()
        age = timedelta(minutes=min_age_minutes) if min_age_minutes else self._unanswered_after
        # The page is read while the caller's role is: nothing of it is used before the role is checked.
        membership, (page, epoch) = await with_check(
            self._membership_in(caller, community_id),
            both(
                self._repo.unanswered(community_id, self._clock() - age, size, page_token),
                self._repo.hint_epoch(community_id),
            ),
        )
        ensure_champion(membership)
        wanted = {w.question.id: terms(w.question.title) for w in page.items}
        hints = {w.question.id: w.hints for w in page.items if w.hints is not None and w.hints.epoch == epoch}
        stale = [w for w in page.items if w.question.id not in hints]
        # Hints a possible hint appeared or changed for since: that post joins them (changes since).
        # From scratch: never computed, edited since, one of them changed, or the change log falls short.
        changes = await self._changes_since(community_id, stale, epoch)
        pools = {question_id: stored.ids for question_id, stored in hints.items()}
        scratch: dict[str, list[str]] = {}
        for w in stale:
            question_id = w.question.id
            stored = w.hints
            if stored is None or stored.epoch < 0 or changes is None:
                scratch[question_id] = wanted[question_id]
                continue
            changed = [post for e, post in sorted(changes.items()) if e > stored.epoch]
            if set(changed) & set(stored.ids):
                scratch[question_id] = wanted[question_id]
            else:
                pools[question_id] = list(dict.fromkeys([*stored.ids, *changed]))
        if scratch:
            computed = await self._compute_hints(community_id, scratch, epoch)
            pools |= {question_id: stored.ids for question_id, stored in computed.items()}
        # One batched read of every hint of the page, every post to weigh as a new one, and the questions
        # found meaning the same when each was asked.
        meant = [n.id for w in page.items for n in w.similar]
        posts = await self._repo.visible_posts([*meant, *(i for pool in pools.values() for i in pool)])
        items: list[WaitingItem] = []
        by_terms: list[list[SearchHit]] = []
        for w in page.items:
            question_id = w.question.id
            usable = [
                posts[i]
                for i in pools[question_id]
                if i in posts and i != question_id and _possible_hint(posts[i].question)
            ]
            by_terms.append(_ranked(wanted[question_id], usable)[:SIMILAR_HINTS])
            items.append(WaitingItem(w.question, by_terms[-1], meaning_hits(w.similar, posts)))
        await asyncio.gather(
            *(
                self._repo.store_hints(
                    w.question.id, StoredHints([h.question.id for h in best], epoch), w.hints
                )
                for w, best in zip(page.items, by_terms, strict=True)
                if w.question.id not in hints
            )
        )
        return items, page.next_token

    async def _changes_since(
        self, community_id: str, stale: list[WaitingQuestion], epoch: int
    ) -> dict[int, str] | None:
        """The hint change log from the oldest epoch of ``stale`` hints to ``epoch``; None when it is
        longer than ``HINT_CHANGES_MAX`` or has gaps."""
        behind = [w.hints.epoch for w in stale if w.hints is not None and w.hints.epoch >= 0]
        if not behind or epoch - min(behind) > HINT_CHANGES_MAX:
            return None
        changes = await self._repo.hint_changes(community_id, min(behind), epoch)
        return changes if len(changes) == epoch - min(behind) else None

    async def similar(self, caller: Principal, community_id: str, title: str, limit: int) -> list[SearchHit]:
        """Questions of the community most like a draft title."""
        _require(community_id=community_id)
        size = clamp_page_size(limit, default=5, maximum=20, field="limit")
        wanted = _query_terms(title, "title")
        ranked = await checked(
            self._readable(caller, community_id),
            read_candidates(
                self._repo, [community_id], wanted, wanted_by(("question",), "", None), needed=size
            ),
        )
        best = ranked[:size]
        posts = await self._repo.visible_posts([r.id for r in best])
        return [SearchHit(posts[r.id].question, r.relevance, r.matched) for r in best if r.id in posts]

    async def flag(self, caller: Principal, post_id: str, reason: str, note: str) -> tuple[int, bool]:
        """Flag a post once; returns the post's flag count and whether it is now hidden."""
        post = await self._post(post_id, include_hidden=True)
        community, _ = await self._member_of(caller, post.community_id)
        community.ensure_writable()
        flag = Flag.raise_(
            post=post.ref(), member_id=caller.subject, reason=reason, note=note, now=self._clock()
        )
        if not await self._moderation.add_flag(flag):
            raise AlreadyExists("you flagged this post already", reason="ALREADY_FLAGGED")
        threshold = community.flag_threshold or self._flag_threshold
        return await self._moderation.count_flags(flag, threshold, community)

    async def moderation_queue(
        self, caller: Principal, community_id: str, page_size: int, page_token: str
    ) -> QueuePage:
        _require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        await self._moderator_of(caller, community_id)
        return await self._moderation.queue(community_id, size, page_token)

    async def moderation_log(
        self, caller: Principal, community_id: str, page_size: int, page_token: str
    ) -> LogPage:
        _require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        await self._moderator_of(caller, community_id)
        return await self._moderation.moderation_log(community_id, size, page_token)

    async def moderate(self, caller: Principal, post_id: str, action: str, reason: str) -> Post:
        """Hide, restore, lock, unlock or delete a post; logged, and the author hears of it."""
        check_moderation(action, reason)
        reason = reason.strip()
        post = await self._post(post_id, include_hidden=True)
        community = await self._moderator_of(caller, post.community_id)
        community.ensure_writable()
        ref, now, by = post.ref(), self._clock(), caller.subject
        if action == "delete":
            await self._repo.mark_deleted(PostRemoved(ref, by, reason, True, now), community)
            await self._after_removal(post, by, community)
            post.deleted = True
        else:
            event: DomainEvent
            match action:
                case "hide":
                    fields, event = {"hidden": True}, PostHidden(ref, by, reason, False, 0, now)
                case "restore":
                    fields, event = {"hidden": False}, PostRestored(ref, by, reason, now)
                case _:
                    locked = action == "lock"
                    fields, event = {"locked": locked}, PostLocked(ref, by, reason, locked, now)
            state = await self._moderation.set_state(ref, fields, event, community)
            post.hidden, post.locked = bool(state.get("hidden")), bool(state.get("locked"))
        await self._moderation.resolve(ModerationEntry(new_id(), ref, action, by, reason, now), post.hidden)
        return post

    async def _mention(self, post: Post, *texts: str) -> None:
        """Queue a mention event on a new post for each member of its community it names."""
        named = mentioned(*texts, author_id=post.author_id)
        ref = post.ref()
        time = post.create_time
        for member in await self._members(post.community_id, named):
            post.events.append(MentionMade(member, ref, time))

    async def _members(self, community_id: str, member_ids: list[str]) -> list[str]:
        """Those of ``member_ids`` who belong to the community; nobody outside hears of its posts."""
        found = []
        for member_id in member_ids:
            try:
                membership = await self._directory.membership(community_id, member_id)
            except Unavailable:
                continue  # the community service cannot confirm: no mention rather than no post
            if membership is not None:
                found.append(member_id)
        return found

    async def share_resource(
        self,
        caller: Principal,
        community_id: str,
        url: str,
        title: str,
        summary: str,
        media_type: str,
        tags: list[str],
        request_id: str,
    ) -> tuple[Resource, bool]:
        """Share a link; a URL already shared in the community gives the earlier resource and True."""
        _require(community_id=community_id)
        community, _ = await self._member_of(caller, community_id)
        community.ensure_writable()
        resource = Resource.share(
            id=_id("resource", caller, request_id),
            community_id=community_id,
            author_id=caller.subject,
            url=url,
            title=title,
            summary=summary,
            media_type=media_type,
            tags=tags,
            now=self._clock(),
        )
        return await self._resources.add_resource(resource, community)

    async def get_resource(self, caller: Principal, resource_id: str) -> Resource:
        resource = await self._resource(resource_id)
        await self._readable(caller, resource.community_id)
        return resource

    async def list_resources(
        self, caller: Principal, community_id: str, top_rated: bool, page_size: int, page_token: str
    ) -> ResourcePage:
        _require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        await self._readable(caller, community_id)
        return await self._resources.list_resources(community_id, top_rated, size, page_token)

    async def rate(
        self, caller: Principal, item_id: str, stars: int, review: str
    ) -> tuple[int, RatingSummary]:
        """Rate an item 1-5, once per member: rating again replaces the earlier rating."""
        item = await self._resource(item_id)
        community, _ = await self._member_of(caller, item.community_id)
        community.ensure_writable()
        item.check_rating(caller.subject, stars, review)
        return await self._resources.rate(item, caller.subject, stars, review, self._clock(), community)

    async def list_reviews(
        self, caller: Principal, item_id: str, page_size: int, page_token: str
    ) -> ReviewPage:
        size = clamp_page_size(page_size, default=20, maximum=100)
        item = await self._resource(item_id)
        await self._readable(caller, item.community_id)
        return await self._resources.list_reviews(item.id, size, page_token)

    async def mark_outdated(self, caller: Principal, resource_id: str) -> int:
        item = await self._resource(resource_id)
        community, _ = await self._member_of(caller, item.community_id)
        community.ensure_writable()
        return await self._resources.mark_outdated(item, caller.subject, self._clock(), community)

    async def list_outdated(
        self, caller: Principal, community_id: str, page_size: int, page_token: str
    ) -> ResourcePage:
        _require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        _, membership = await self._member_of(caller, community_id)
        ensure_curator(membership)
        return await self._resources.list_outdated(community_id, size, page_token)

    async def _resource(self, resource_id: str) -> Resource:
        _require(resource_id=resource_id)
        resource = await self._resources.get_resource(resource_id)
        if resource is None:
            raise NotFound(f"resource {resource_id} not found", reason="RESOURCE_NOT_FOUND")
        return resource

    async def _moderator_of(self, caller: Principal, community_id: str) -> CommunityView:
        community, membership = await self._member_of(caller, community_id)
        ensure_moderator(membership)
        return community

    async def _post(
        self,
        post_id: str,
        kinds: tuple[str, ...] = (*POST_KINDS, "answer", "comment"),
        *,
        include_hidden: bool = False,
    ) -> Post:
        """A live post of one of ``kinds``; deleted posts, and unless asked hidden ones, are not found."""
        _require(post_id=post_id)
        post = await self._repo.get_post(post_id)
        if post is None or post.deleted or post.kind not in kinds or (post.hidden and not include_hidden):
            raise NotFound(f"post {post_id} not found", reason="POST_NOT_FOUND")
        return post

    async def _question(self, question_id: str) -> Question:
        _require(question_id=question_id)
        question = await self._repo.get_question(question_id)
        if question is None or question.deleted or question.kind != "question":
            raise NotFound(f"question {question_id} not found", reason="QUESTION_NOT_FOUND")
        return question

    async def _visible_question(self, question_id: str) -> Question:
        question = await self._question(question_id)
        if question.hidden:
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

    async def _membership_in(self, caller: Principal, community_id: str) -> MembershipView:
        """The caller's membership, for reads: as :meth:`_member_of`, reading the community only to tell
        an unknown one from one the caller is not a member of."""
        membership = await self._directory.membership(community_id, caller.subject)
        if membership is None:
            await self._community(community_id)
            raise PermissionDenied("only members of the community may post here", reason="NOT_A_MEMBER")
        return membership

    def _readable(self, caller: Principal, community_id: str) -> Awaitable[CommunityView]:
        return readable_community(self._directory, caller, community_id)


def _id(scope: str, caller: Principal, request_id: str) -> str:
    return id_for_request(scope, caller.subject, request_id) if request_id else new_id()


def _possible_hint(question: Question) -> bool:
    """Whether a (visible) post can be a similar-question hint: an answered question."""
    return question.answer_count > 0 and is_question_kind(question.kind)


def _require(**fields: str) -> None:
    check = Validator()
    for name, value in fields.items():
        check.require(bool(value), name, "must not be empty")
    check.check()


def _query_terms(text: str, field: str) -> list[str]:
    wanted = terms(text)[:QUERY_TERMS_MAX]
    if not wanted:
        raise InvalidArgument(
            "nothing to search for",
            violations=[FieldViolation(field, "needs at least one word that is not a stop word")],
        )
    return wanted


def _ranked(wanted: list[str], candidates: list[IndexedQuestion]) -> list[SearchHit]:
    hits = []
    for candidate in candidates:
        score, matched = relevance(wanted, candidate.terms, candidate.title_terms)
        if score:
            hits.append(SearchHit(candidate.question, score, matched))
    return sorted(hits, key=_rank_key)


def _rank_key(hit: SearchHit) -> tuple[int, float, str]:
    return (-hit.relevance, -hit.question.create_time.timestamp(), hit.question.id)

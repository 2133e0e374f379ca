"""Questions, answers, comments and the other kinds of post: asking, answering, accepting, voting,
editing, deleting, and their reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import Aborted, FieldViolation, InvalidArgument, NotFound, Validator
from guild_common.pagination import Page, clamp_page_size
from guild_content.app.access import ACCEPT_ATTEMPTS, PostAccess, id_for, require
from guild_content.app.concurrently import both, with_check
from guild_content.app.meaning import meaning_hits, meaning_of, vector_of
from guild_content.app.ports import Asked, Embedder, FeaturedItems, MembershipDirectory, QuestionRepository
from guild_content.app.unanswered import SIMILAR_HINTS, hints_of, possible_hint, ranked_hits
from guild_content.domain.community import MODERATING_ROLES
from guild_content.domain.posts import (
    POST_KINDS,
    MentionMade,
    PostEdited,
    PostRef,
    PostRemoved,
    Revision,
    Text,
    edited_text,
    mentioned,
)
from guild_content.domain.questions import Answer, Comment, Post, Question, ensure_unlocked
from guild_content.domain.search import terms

EDIT_ATTEMPTS = 5


class QuestionUseCases(PostAccess):
    def __init__(
        self,
        repository: QuestionRepository,
        directory: MembershipDirectory,
        *,
        features: FeaturedItems | None = None,
        embedder: Embedder | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(repository, directory, features=features, clock=clock)
        self._embedder = embedder

    async def ask(
        self, caller: Principal, community_id: str, title: str, body: str, tags: list[str], request_id: str
    ) -> Question:
        return (await self.ask_question(caller, community_id, title, body, tags, request_id)).question

    async def ask_question(
        self, caller: Principal, community_id: str, title: str, body: str, tags: list[str], request_id: str
    ) -> Asked:
        """Ask a question; with it, the earlier questions of the community meaning the same (by meaning
        vector), or when none is found, the answered questions its title's terms find."""
        require(community_id=community_id)
        community, _ = await self._member_of(caller, community_id)
        community.ensure_writable()
        question = Question.ask(
            id=id_for("question", caller, request_id),
            community_id=community_id,
            author_id=caller.subject,
            title=title,
            body=body,
            tags=tags,
            now=self._clock(),
        )
        await self._mention(question, question.title, question.body)
        meaning, hints = await both(
            meaning_of(question, self._embedder, self._repo), hints_of(self._repo, question)
        )
        stored = await self._repo.add_question(question, community, hints, meaning)
        similar = meaning.similar if meaning is not None else []
        posts = await self._repo.visible_posts([n.id for n in similar] or (hints.ids if hints else []))
        found = meaning_hits(similar, posts)
        if not found and hints is not None:
            usable = [posts[i] for i in hints.ids if i in posts and possible_hint(posts[i].question)]
            found = ranked_hits(terms(question.title), usable)[:SIMILAR_HINTS]
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
        require(community_id=community_id)
        community, membership = await self._member_of(caller, community_id)
        community.ensure_writable()
        post = Question.create(
            kind=kind,
            id=id_for("question" if kind == "question" else "post", caller, request_id),
            community_id=community_id,
            author_id=caller.subject,
            title=title,
            body=body,
            tags=tags,
            by=membership,
            now=self._clock(),
        )
        await self._mention(post, post.title, post.body)
        meaning, hints = await both(meaning_of(post, self._embedder, self._repo), hints_of(self._repo, post))
        return await self._repo.add_question(post, community, hints, meaning)

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
    ) -> Page[Question]:
        require(community_id=community_id)
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
            id=id_for("answer", caller, request_id), author_id=caller.subject, body=body, now=self._clock()
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
        require(question_id=question_id, answer_id=answer_id)
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
    ) -> Page[Question]:
        require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        await self._readable(caller, community_id)
        return await self._repo.list_questions(community_id, size, page_token)

    async def vote(self, caller: Principal, target_id: str, value: int) -> tuple[PostRef, int]:
        """Set the caller's vote on a question or answer to ``value`` (+1, -1, or 0 to retract).

        Returns the target and its score after the vote. Voting the same way twice changes nothing.
        """
        require(target_id=target_id)
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
            id=id_for("comment", caller, request_id),
            on=post.ref(),
            author_id=caller.subject,
            body=body,
            now=self._clock(),
        )
        await self._mention(comment, comment.body)
        return await self._repo.add_comment(comment, community)

    async def list_comments(
        self, caller: Principal, post_id: str, page_size: int, page_token: str
    ) -> Page[Comment]:
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
    ) -> Page[Revision]:
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
            require(reason=reason.strip())
        now = self._clock()
        removal = PostRemoved(post.ref(), caller.subject, reason.strip(), by_moderator, now)
        await self._repo.mark_deleted(removal, community)
        await self._after_removal(post, caller.subject, community)
        return post.ref()

    async def list_tags(
        self, caller: Principal, community_id: str, page_size: int, page_token: str
    ) -> Page[tuple[str, int]]:
        require(community_id=community_id)
        size = clamp_page_size(page_size, default=50, maximum=200)
        await self._readable(caller, community_id)
        return await self._repo.tag_counts(community_id, size, page_token)

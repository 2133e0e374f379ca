"""What every content use case looks up first: the community, the caller's membership in it, the post,
each raising the error its RPC returns; and the rules several aggregates share (mentions, removal)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import Aborted, NotFound, PermissionDenied, Unavailable, Validator
from guild_common.ids import id_for_request, new_id
from guild_content.app.ports import FeaturedItems, MembershipDirectory, QuestionRepository
from guild_content.app.visibility import readable_community
from guild_content.domain.community import CommunityView, MembershipView, ensure_moderator
from guild_content.domain.posts import POST_KINDS, MentionMade, mentioned
from guild_content.domain.questions import Answer, Post, Question

ACCEPT_ATTEMPTS = 5


class CommunityAccess:
    """The caller's standing in a community, read from the membership directory."""

    #: What a non-member is told when refused.
    not_a_member = "only members of the community may post here"

    def __init__(self, directory: MembershipDirectory) -> None:
        self._directory = directory

    async def _moderator_of(self, caller: Principal, community_id: str) -> CommunityView:
        community, membership = await self._member_of(caller, community_id)
        ensure_moderator(membership)
        return community

    async def _community(self, community_id: str) -> CommunityView:
        community = await self._directory.community(community_id)
        if community is None:
            raise NotFound(f"community {community_id} not found", reason="COMMUNITY_NOT_FOUND")
        return community

    async def _member_of(self, caller: Principal, community_id: str) -> tuple[CommunityView, MembershipView]:
        community = await self._community(community_id)
        membership = await self._directory.membership(community_id, caller.subject)
        if membership is None:
            raise PermissionDenied(self.not_a_member, reason="NOT_A_MEMBER")
        return community, membership

    async def _membership_in(self, caller: Principal, community_id: str) -> MembershipView:
        """The caller's membership, for reads: as :meth:`_member_of`, reading the community only to tell
        an unknown one from one the caller is not a member of."""
        membership = await self._directory.membership(community_id, caller.subject)
        if membership is None:
            await self._community(community_id)
            raise PermissionDenied(self.not_a_member, reason="NOT_A_MEMBER")
        return membership

    def _readable(self, caller: Principal, community_id: str) -> Awaitable[CommunityView]:
        return readable_community(self._directory, caller, community_id)


class PostAccess(CommunityAccess):
    """Posts looked up (deleted and hidden ones not found), mentions and what follows a removal."""

    def __init__(
        self,
        repository: QuestionRepository,
        directory: MembershipDirectory,
        *,
        features: FeaturedItems | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(directory)
        self._repo = repository
        self._features = features
        self._clock = clock

    async def _post(
        self,
        post_id: str,
        kinds: tuple[str, ...] = (*POST_KINDS, "answer", "comment"),
        *,
        include_hidden: bool = False,
    ) -> Post:
        """A live post of one of ``kinds``; deleted posts, and unless asked hidden ones, are not found."""
        require(post_id=post_id)
        post = await self._repo.get_post(post_id)
        if post is None or post.deleted or post.kind not in kinds or (post.hidden and not include_hidden):
            raise NotFound(f"post {post_id} not found", reason="POST_NOT_FOUND")
        return post

    async def _question(self, question_id: str) -> Question:
        require(question_id=question_id)
        question = await self._repo.get_question(question_id)
        if question is None or question.deleted or question.kind != "question":
            raise NotFound(f"question {question_id} not found", reason="QUESTION_NOT_FOUND")
        return question

    async def _visible_question(self, question_id: str) -> Question:
        question = await self._question(question_id)
        if question.hidden:
            raise NotFound(f"question {question_id} not found", reason="QUESTION_NOT_FOUND")
        return question

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


def id_for(scope: str, caller: Principal, request_id: str) -> str:
    return id_for_request(scope, caller.subject, request_id) if request_id else new_id()


def require(**fields: str) -> None:
    check = Validator()
    for name, value in fields.items():
        check.require(bool(value), name, "must not be empty")
    check.check()

"""Moderation: flags, the queue of flagged posts, moderators' actions and their log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import AlreadyExists
from guild_common.ids import new_id
from guild_common.pagination import Page, clamp_page_size
from guild_content.app.access import PostAccess, require
from guild_content.app.ports import (
    FeaturedItems,
    MembershipDirectory,
    ModerationRepository,
    QuestionRepository,
    QueueItem,
)
from guild_content.domain.events import DomainEvent
from guild_content.domain.moderation import (
    Flag,
    ModerationEntry,
    PostHidden,
    PostLocked,
    PostRestored,
    check_moderation,
)
from guild_content.domain.posts import PostRemoved
from guild_content.domain.questions import Post


class ModerationUseCases(PostAccess):
    def __init__(
        self,
        repository: QuestionRepository,
        directory: MembershipDirectory,
        moderation: ModerationRepository,
        *,
        flag_threshold: int = 3,
        features: FeaturedItems | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(repository, directory, features=features, clock=clock)
        self._moderation = moderation
        self._flag_threshold = flag_threshold

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
    ) -> Page[QueueItem]:
        require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        await self._moderator_of(caller, community_id)
        return await self._moderation.queue(community_id, size, page_token)

    async def moderation_log(
        self, caller: Principal, community_id: str, page_size: int, page_token: str
    ) -> Page[ModerationEntry]:
        require(community_id=community_id)
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

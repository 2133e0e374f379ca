"""Broadcasts: a community's leaders post one notice that every member's inbox shows."""

from __future__ import annotations

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import PermissionDenied, Validator
from guild_common.ids import id_for_request, new_id
from guild_notify.app.ports import BroadcastStore, ContentFeed, Memberships
from guild_notify.domain.broadcasts import (
    LEADER_ROLES,
    MAX_TEXT,
    Broadcast,
)
from guild_notify.domain.digests import ContentItem


class BroadcastUseCases:
    def __init__(self, broadcasts: BroadcastStore, memberships: Memberships, feed: ContentFeed) -> None:
        self._broadcasts = broadcasts
        self._memberships = memberships
        self._feed = feed

    async def create(
        self, caller: Principal, community_id: str, text: str, subject_id: str, request_id: str
    ) -> Broadcast:
        check = Validator()
        check.require(bool(community_id), "broadcast.community_id", "required")
        check.require(bool(text.strip()), "broadcast.text", "required")
        check.require(len(text) <= MAX_TEXT, "broadcast.text", f"at most {MAX_TEXT} characters")
        check.check()
        membership = await self._memberships.get(community_id, caller.subject)
        if membership is None or membership.role not in LEADER_ROLES:
            raise PermissionDenied(
                "only community leaders may broadcast",
                reason="ROLE_REQUIRED",
                metadata={"community_id": community_id, "required_role": ",".join(sorted(LEADER_ROLES))},
            )
        broadcast_id = id_for_request("broadcast", caller.subject, request_id) if request_id else new_id()
        broadcast = await self._broadcasts.create(
            Broadcast(
                id=broadcast_id,
                community_id=community_id,
                author_id=caller.subject,
                text=text.strip(),
                subject_id=subject_id,
                create_time=utc_now(),
            )
        )
        # Also new content for the digests; keyed by the broadcast, so a retried create records it once.
        await self._feed.record(
            ContentItem(
                id=broadcast.notification_id,
                community_id=broadcast.community_id,
                kind="notice",
                title=broadcast.text[:200],
                author_id=broadcast.author_id,
                create_time=broadcast.create_time,
            )
        )
        return broadcast

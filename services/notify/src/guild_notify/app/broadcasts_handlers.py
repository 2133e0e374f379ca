"""Broadcasts caused by events: a survey opened, new material (a shared resource, an article or an
announcement). One stored copy is merged into every member's inbox on read, O(1) writes whatever the
community's size."""

from __future__ import annotations

from guild_common.events.inbound import Handler
from guild_common.events.meta import EventMeta
from guild_notify.app.notifier import Notifier
from guild_notify.app.ports import BroadcastStore, ContentFeed, Memberships, PreferencesStore, Subscribers
from guild_notify.domain.broadcasts import Broadcast
from guild_notify.domain.digests import ContentItem
from guild_notify.domain.integration_events import PostCreated, ResourceShared, SurveyOpened
from guild_notify.domain.notifications import NotificationType
from guild_notify.domain.preferences import Channel, DigestFrequency

# Posts that are new material for a community's members.
NEW_CONTENT_POST_KINDS = frozenset({"article", "announcement"})


class BroadcastHandlers:
    def __init__(
        self,
        notifier: Notifier,
        memberships: Memberships,
        broadcasts: BroadcastStore,
        feed: ContentFeed,
        subscribers: Subscribers,
        preferences: PreferencesStore,
    ) -> None:
        self._notifier = notifier
        self._memberships = memberships
        self._broadcasts = broadcasts
        self._feed = feed
        self._subscribers = subscribers
        self._preferences = preferences

    async def survey_opened(self, e: SurveyOpened) -> None:
        await self._broadcasts.create(
            Broadcast(
                id=f"survey-{e.survey_id}",
                community_id=e.community_id,
                author_id=e.opened_by,
                text=f"A survey is open: \u201c{e.title}\u201d",
                subject_id=e.survey_id,
                create_time=e.meta.time,
                type=NotificationType.SURVEY_OPENED,
            )
        )

    async def _new_content(
        self, meta: EventMeta, kind: str, item_id: str, community_id: str, author_id: str, title: str
    ) -> None:
        """Into the digests' feed, into every member's inbox (one stored copy), and by email at once to
        members who turned digests off and asked for new content by email."""
        await self._feed.record(
            ContentItem(
                id=f"{kind}:{item_id}",
                community_id=community_id,
                kind=kind,
                title=title,
                author_id=author_id,
                create_time=meta.time,
            )
        )
        notice = await self._broadcasts.create(
            Broadcast(
                id=f"{kind}-{item_id}",
                community_id=community_id,
                author_id=author_id,
                text=f"New {kind}: \u201c{title}\u201d",
                subject_id=item_id,
                create_time=meta.time,
                type=NotificationType.NEW_CONTENT,
            )
        )
        for member_id in await self._subscribers.digest_subscribers(DigestFrequency.OFF):
            if member_id == author_id or await self._memberships.get(community_id, member_id) is None:
                continue
            prefs = await self._preferences.get(member_id)
            if prefs.wants(NotificationType.NEW_CONTENT, community_id, Channel.EMAIL):
                await self._notifier.deliver(notice.for_member(member_id, read=False), in_app_allowed=False)

    async def resource_shared(self, e: ResourceShared) -> None:
        await self._new_content(e.meta, "resource", e.resource_id, e.community_id, e.author_id, e.title)

    async def post_created(self, e: PostCreated) -> None:
        if e.kind in NEW_CONTENT_POST_KINDS:  # discussions are conversation, not material
            await self._new_content(e.meta, e.kind, e.post_id, e.community_id, e.author_id, e.title)

    def handlers(self) -> dict[type, Handler]:
        return {
            SurveyOpened: self.survey_opened,
            ResourceShared: self.resource_shared,
            PostCreated: self.post_created,
        }

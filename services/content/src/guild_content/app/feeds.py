"""Feeds: a community's posts and resources in several orders, and a member's personal feed.

A feed merges a few sources, each an indexed keyset query in the same order (key descending, then id).
A page reads at most ``page_size + 1`` entries from each source after that source's cursor, merges them,
and the page token keeps every source's own cursor: so pages neither repeat nor skip an entry, however
many sources feed in, and a post reached through two sources (its community and a followed tag) shows once.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import FailedPrecondition, Validator
from guild_common.pagination import Page, clamp_page_size, decode_token, encode_token
from guild_common.tags import normalise_tags
from guild_content.app.concurrently import checked
from guild_content.app.ports import FeedEntry, FeedQuery, FeedRepository, MembershipDirectory
from guild_content.app.visibility import readable_community
from guild_content.domain.posts import TAG

FEED_ORDERS = ("newest", "activity", "top_week", "top_month")
TOP_WINDOWS = {"top_week": timedelta(days=7), "top_month": timedelta(days=30)}
# A personal feed reads the member's communities in one query each for posts and resources; at most this
# many communities count, the ones the member joined first.
PERSONAL_COMMUNITIES_MAX = 50
FOLLOWED_TAGS_MAX = 30
# Followed people whose posts the personal feed shows (follows come from the community service's events).
FOLLOWED_PEOPLE_MAX = 200


class FeedUseCases:
    def __init__(
        self,
        feeds: FeedRepository,
        directory: MembershipDirectory,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._feeds = feeds
        self._directory = directory
        self._clock = clock

    async def community_feed(
        self, caller: Principal, community_id: str, order: str, page_size: int, page_token: str
    ) -> Page[FeedEntry]:
        """Newest posts and resources, most recent activity, or the top of the week or month.

        The top ranks posts of every kind by their votes and resources by their ratings (a 4 or 5 star
        rating counts up, a 1 or 2 down), on one scale.
        """
        check = Validator()
        check.require(bool(community_id), "community_id", "must not be empty")
        check.require(order in FEED_ORDERS, "order", "one of " + ", ".join(FEED_ORDERS))
        check.check()
        size = clamp_page_size(page_size, default=20, maximum=50)
        position = decode_token(page_token)
        ids = (community_id,)
        if order in TOP_WINDOWS:
            # The window is fixed by the first page, so later pages rank the same posts.
            since = (
                datetime.fromisoformat(position["since"])
                if position.get("since")
                else self._clock() - TOP_WINDOWS[order]
            )
            sources = {
                "p": FeedQuery("posts", "score", ids, since=since),
                "r": FeedQuery("resources", "score", ids, since=since),
            }
            page = self._merged(sources, position, size, extra={"since": since.isoformat()})
        else:
            sort = "create_time" if order == "newest" else "activity_time"
            sources = {"p": FeedQuery("posts", sort, ids), "r": FeedQuery("resources", sort, ids)}
            page = self._merged(sources, position, size)
        return await checked(readable_community(self._directory, caller, community_id), page)

    async def personal_feed(self, caller: Principal, page_size: int, page_token: str) -> Page[FeedEntry]:
        """Newest posts and resources of the member's communities, and posts of followed tags and people.

        Posts reached through a tag or a person show only from communities open to the caller.
        """
        size = clamp_page_size(page_size, default=20, maximum=50)
        position = decode_token(page_token)
        communities = tuple(sorted(await self._directory.communities_of(caller.subject)))
        communities = communities[:PERSONAL_COMMUNITIES_MAX]
        tags = tuple((await self._feeds.followed_tags(caller.subject, FOLLOWED_TAGS_MAX, "")).items)
        sources: dict[str, FeedQuery] = {}
        if communities:
            sources["p"] = FeedQuery("posts", "create_time", communities)
            sources["r"] = FeedQuery("resources", "create_time", communities)
        if tags:
            sources["t"] = FeedQuery("posts", "create_time", tags=tags)
        people = tuple(sorted(await self._feeds.followees(caller.subject, FOLLOWED_PEOPLE_MAX)))
        if people:
            sources["a"] = FeedQuery("posts", "create_time", author_ids=people)
        return await self._merged(sources, position, size, visible_to=caller, member_of=set(communities))

    async def follow_tag(self, caller: Principal, tag: str) -> str:
        """Follow a tag; following it again changes nothing (and announces nothing)."""
        normal = _tag(tag)
        if await self._feeds.follows_tag(caller.subject, normal):
            return normal
        done = await self._feeds.follow_tag(caller.subject, normal, self._clock(), limit=FOLLOWED_TAGS_MAX)
        if done == "full":
            raise FailedPrecondition(
                f"at most {FOLLOWED_TAGS_MAX} tags can be followed", reason="TOO_MANY_TAGS"
            )
        return normal

    async def unfollow_tag(self, caller: Principal, tag: str) -> str:
        """Stop following a tag; a tag not followed is no error (and announces nothing)."""
        normal = _tag(tag)
        await self._feeds.unfollow_tag(caller.subject, normal, self._clock())
        return normal

    async def followed_tags(self, caller: Principal, page_size: int, page_token: str) -> Page[str]:
        size = clamp_page_size(page_size, default=FOLLOWED_TAGS_MAX, maximum=FOLLOWED_TAGS_MAX)
        return await self._feeds.followed_tags(caller.subject, size, page_token)

    async def _merged(
        self,
        sources: dict[str, FeedQuery],
        position: dict[str, Any],
        size: int,
        *,
        extra: dict[str, Any] | None = None,
        visible_to: Principal | None = None,
        member_of: set[str] | None = None,
    ) -> Page[FeedEntry]:
        cursors: dict[str, Any] = position.get("c", {})
        names = [name for name in sources if cursors.get(name) != "end"]
        pages = await asyncio.gather(
            *(self._feeds.feed_page(sources[name], _cursor(cursors.get(name)), size + 1) for name in names)
        )
        heap: list[tuple[tuple[float, str], int, str, FeedEntry]] = []
        for name, page in zip(names, pages, strict=True):
            for n, entry in enumerate(page):
                heapq.heappush(heap, (_order(entry), n, name, entry))
        consumed = dict.fromkeys(names, 0)
        last: dict[str, FeedEntry] = {}
        emitted: list[FeedEntry] = []
        readable: dict[str, bool] = {}
        while heap and len(emitted) < size:
            _, _, name, entry = heapq.heappop(heap)
            consumed[name] += 1
            last[name] = entry
            if emitted and emitted[-1].id == entry.id:
                continue  # the same post from another source
            if visible_to is not None and not await self._visible(entry, visible_to, member_of, readable):
                continue
            emitted.append(entry)
        while heap and emitted and heap[0][3].id == emitted[-1].id:
            _, _, name, entry = heapq.heappop(heap)
            consumed[name] += 1
            last[name] = entry
        more = any(consumed[name] < len(page) for name, page in zip(names, pages, strict=True))
        if not more:
            return Page(emitted, "")
        next_cursors = dict(cursors)
        for name, page in zip(names, pages, strict=True):
            if name in last:
                next_cursors[name] = _encode(last[name])
            elif not page:
                next_cursors[name] = "end"
        return Page(emitted, encode_token({"c": next_cursors, **(extra or {})}))

    async def _visible(
        self, entry: FeedEntry, caller: Principal, member_of: set[str] | None, seen: dict[str, bool]
    ) -> bool:
        """Whether a post's community is open to the caller: hidden ones only to members."""
        if member_of is not None and entry.community_id in member_of:
            return True
        if entry.community_id not in seen:
            community = await self._directory.community(entry.community_id)
            seen[entry.community_id] = community is not None and community.visibility != "hidden"
        return seen[entry.community_id]


def _order(entry: FeedEntry) -> tuple[float, str]:
    """Heap order: key descending, then id descending."""
    key = entry.key.timestamp() if isinstance(entry.key, datetime) else float(entry.key)
    return (-key, _inverted(entry.id))


def _inverted(text: str) -> str:
    return "".join(chr(0x10FFFF - ord(ch)) for ch in text)


def _encode(entry: FeedEntry) -> dict[str, Any]:
    if isinstance(entry.key, datetime):
        return {"t": entry.key.isoformat(), "id": entry.id}
    return {"v": entry.key, "id": entry.id}


def _cursor(position: Any) -> tuple[datetime | int, str] | None:
    if not position:
        return None
    if "t" in position:
        return datetime.fromisoformat(position["t"]), str(position["id"])
    return int(position["v"]), str(position["id"])


def _tag(tag: str) -> str:
    normal = normalise_tags([tag])
    check = Validator()
    check.require(bool(normal) and bool(TAG.match(normal[0])), "tag", "1-32 of a-z 0-9 + # . -")
    check.check()
    return normal[0]

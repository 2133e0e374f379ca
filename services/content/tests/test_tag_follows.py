"""Following tags: idempotent, announced once per change as a member's (global) event."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from guild.content.v1 import content_service_pb2 as api
from guild.events.v1 import content_events_pb2 as events
from guild_testing.fixtures import auth

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite

GLOBAL_EVENTS = "guild.global.global.content.>"


async def test_follow_and_unfollow_emit_one_event_per_change(suite: Suite) -> None:
    async def follow(tag: str) -> None:
        await suite.content.FollowTag(api.FollowTagRequest(tag=tag), metadata=auth("ann"))

    async def unfollow(tag: str) -> None:
        await suite.content.UnfollowTag(api.UnfollowTagRequest(tag=tag), metadata=auth("ann"))

    await follow("Python")
    await follow("python")  # already followed: no event
    await asyncio.gather(unfollow("python"), unfollow("python"))  # one change between them
    await unfollow("golang")  # never followed: no event
    await follow("python")  # followed again: a new event

    # Nothing more arrives after the three changes. The outbox publishes follows and unfollows from two
    # collections, so the stream may interleave them: consumers order by the events' times.
    received = await suite.content_events(3, subject=GLOBAL_EVENTS)
    assert len(await suite.content_events(4, subject=GLOBAL_EVENTS, timeout=1.0)) == 3
    received.sort(key=lambda e: e.time)
    assert [e.type for e in received] == [
        "guild.content.tag_followed.v1",
        "guild.content.tag_unfollowed.v1",
        "guild.content.tag_followed.v1",
    ]
    assert all(e.topic.startswith("guild.global.global.content.") for e in received)
    first = received[0].payload(events.TagFollowed)
    assert (first.member_id, first.tag) == ("ann", "python")
    ended = received[1].payload(events.TagUnfollowed)
    assert (ended.member_id, ended.tag) == ("ann", "python")
    assert ended.unfollow_time.ToDatetime() >= first.follow_time.ToDatetime()
    assert received[0].subject == "ann:python"

    tags = await suite.content.ListFollowedTags(api.ListFollowedTagsRequest(), metadata=auth("ann"))
    assert list(tags.tags) == ["python"]

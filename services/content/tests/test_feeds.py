"""Feeds: a community's newest, most active and top posts, and a member's personal feed, page by page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from guild.community.v1 import community_pb2
from guild.community.v1 import community_service_pb2 as community_api
from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import feed_pb2, question_pb2
from guild.events.v1 import community_events_pb2 as community_events
from guild_content.adapters.feed_store import MongoFeedRepository
from guild_testing.fixtures import auth

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite


async def _post(suite: Suite, kind: str, who: str, community_id: str = "", **kw: object) -> str:
    response: api.CreatePostResponse = await suite.content.CreatePost(
        api.CreatePostRequest(
            community_id=community_id or suite.community_id,
            kind=kind,
            title=f"A {kind} by {who}",
            body="Words",
            **kw,  # type: ignore[arg-type]
        ),
        metadata=auth(who),
    )
    return response.post.id


async def _share(suite: Suite, who: str, url: str) -> str:
    response: api.ShareResourceResponse = await suite.content.ShareResource(
        api.ShareResourceRequest(community_id=suite.community_id, url=url, title="Handbook"),
        metadata=auth(who),
    )
    return response.resource.id


def _ids(items: list[feed_pb2.FeedItem]) -> list[str]:
    return [i.post.id if i.HasField("post") else i.resource.id for i in items]


async def _community_feed(suite: Suite, order: feed_pb2.FeedOrder.ValueType, page_size: int = 2) -> list[str]:
    """Every page of the feed, checking each page's size."""
    ids: list[str] = []
    token = ""
    while True:
        page = await suite.content.ListCommunityFeed(
            api.ListCommunityFeedRequest(
                community_id=suite.community_id, order=order, page_size=page_size, page_token=token
            ),
            metadata=auth("bob"),
        )
        assert len(page.items) <= page_size
        ids += _ids(list(page.items))
        token = page.next_page_token
        if not token:
            return ids


async def _personal_feed(suite: Suite, who: str, page_size: int = 2) -> list[str]:
    ids: list[str] = []
    token = ""
    while True:
        page = await suite.content.ListPersonalFeed(
            api.ListPersonalFeedRequest(page_size=page_size, page_token=token), metadata=auth(who)
        )
        ids += _ids(list(page.items))
        token = page.next_page_token
        if not token:
            return ids


async def _vote(suite: Suite, target_id: str, who: str) -> None:
    await suite.content.CastVote(
        api.CastVoteRequest(target_id=target_id, direction=question_pb2.VOTE_DIRECTION_UP), metadata=auth(who)
    )


async def _rate(suite: Suite, item_id: str, who: str, stars: int) -> None:
    await suite.content.RateItem(api.RateItemRequest(item_id=item_id, stars=stars), metadata=auth(who))


async def test_community_feed_newest_active_and_top(suite: Suite) -> None:
    question = (await suite.ask("ann")).id
    discussion = await _post(suite, "discussion", "bob")
    resource = await _share(suite, "ann", "https://example.com/handbook")
    announcement = await _post(suite, "announcement", "olivia")

    assert await _community_feed(suite, feed_pb2.FEED_ORDER_UNSPECIFIED) == [
        announcement,
        resource,
        discussion,
        question,
    ]

    await suite.answer(question, "bob")
    await suite.content.AddComment(
        api.AddCommentRequest(post_id=discussion, body="Agreed"), metadata=auth("ann")
    )
    assert await _community_feed(suite, feed_pb2.FEED_ORDER_RECENT_ACTIVITY, page_size=3) == [
        discussion,
        question,
        announcement,
        resource,
    ]

    await _vote(suite, discussion, "ann")
    await _vote(suite, discussion, "olivia")
    await _vote(suite, question, "bob")
    # A popular post from before the week: in the month's top, not the week's.
    db = suite.content_service.app.infra.db
    await db.questions.insert_one(
        {
            "_id": "old-popular",
            "kind": "discussion",
            "community_id": suite.community_id,
            "author_id": "ann",
            "title": "Ten days old",
            "body": "Still good",
            "tags": [],
            "create_time": datetime.now(UTC) - timedelta(days=10),
            "activity_time": datetime.now(UTC) - timedelta(days=10),
            "score": 5,
        }
    )
    # Resources rank by their ratings on the same scale: a 4 or 5 counts up, a 1 or 2 down.
    await _rate(suite, resource, "bob", 5)
    disliked = await _share(suite, "ann", "https://example.com/outdated")
    await _rate(suite, disliked, "bob", 1)
    await db.resources.insert_one(
        {
            "_id": "old-resource",
            "community_id": suite.community_id,
            "author_id": "bob",
            "url": "https://example.com/old",
            "title": "Old but loved",
            "create_time": datetime.now(UTC) - timedelta(days=12),
            "activity_time": datetime.now(UTC) - timedelta(days=12),
            "score": 3,
        }
    )
    scored = [(2, discussion), (1, question), (1, resource), (0, announcement), (-1, disliked)]
    week = await _community_feed(suite, feed_pb2.FEED_ORDER_TOP_WEEK)
    # Equal scores: the larger id first.
    assert week == [post_id for _, post_id in sorted(scored, reverse=True)]
    month = await _community_feed(suite, feed_pb2.FEED_ORDER_TOP_MONTH)
    assert month == ["old-popular", "old-resource", *week]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.ListCommunityFeed(
            api.ListCommunityFeedRequest(community_id="nowhere"), metadata=auth("bob")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_personal_feed_merges_communities_and_followed_tags(suite: Suite) -> None:
    async def community(slug: str, visibility: community_pb2.Visibility.ValueType) -> str:
        created = await suite.community.CreateCommunity(
            community_api.CreateCommunityRequest(
                name=slug.title(), slug=slug, programme="induction", region="emea", visibility=visibility
            ),
            metadata=auth("olivia"),
        )
        return str(created.community.id)

    engineers = await community("engineers", community_pb2.VISIBILITY_OPEN)
    open_to_all = await community("pythonistas", community_pb2.VISIBILITY_OPEN)
    secret = await community("secret", community_pb2.VISIBILITY_HIDDEN)
    await suite.community.JoinCommunity(
        community_api.JoinCommunityRequest(community_id=engineers), metadata=auth("ann")
    )

    first = await _post(suite, "discussion", "bob", tags=["python"])
    elsewhere = await _post(suite, "article", "olivia", engineers)
    hidden = await _post(suite, "discussion", "olivia", secret, tags=["python"])
    tagged = await _post(suite, "article", "olivia", open_to_all, tags=["Python"])
    untagged = await _post(suite, "article", "olivia", open_to_all, tags=["go"])
    resource = await _share(suite, "bob", "https://example.com/guide")
    latest = (await suite.ask("bob", title="Who runs the python meetup?")).id

    async def joined_both() -> bool:
        return elsewhere in await _personal_feed(suite, "ann", page_size=50)

    await suite.eventually(joined_both)
    assert await _personal_feed(suite, "ann") == [latest, resource, elsewhere, first]

    followed = await suite.content.FollowTag(api.FollowTagRequest(tag=" Python "), metadata=auth("ann"))
    assert followed.tag == "python"
    await suite.content.FollowTag(api.FollowTagRequest(tag="python"), metadata=auth("ann"))
    tags = await suite.content.ListFollowedTags(api.ListFollowedTagsRequest(), metadata=auth("ann"))
    assert list(tags.tags) == ["python"]
    # The post tagged python in ann's own community shows once; the hidden community's does not show.
    for page_size in (1, 2, 3, 50):
        assert await _personal_feed(suite, "ann", page_size) == [latest, resource, tagged, elsewhere, first]
    everything = await _personal_feed(suite, "ann", 50)
    assert hidden not in everything
    assert untagged not in everything

    await suite.content.UnfollowTag(api.UnfollowTagRequest(tag="python"), metadata=auth("ann"))
    assert await _personal_feed(suite, "ann") == [latest, resource, elsewhere, first]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.FollowTag(api.FollowTagRequest(tag="no spaces allowed!"), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_personal_feed_follows_people_from_community_events(suite: Suite) -> None:
    makers = await suite.community.CreateCommunity(
        community_api.CreateCommunityRequest(
            name="Makers", slug="makers", programme="induction", region="emea"
        ),
        metadata=auth("olivia"),
    )
    theirs = await _post(suite, "article", "olivia", makers.community.id)
    ours = await _post(suite, "discussion", "bob")
    now = datetime.now(UTC)

    async def follow(event: str, at: datetime) -> None:
        time = Timestamp()
        time.FromDatetime(at)
        payload = (
            community_events.Followed(follower_id="ann", followee_id="olivia", follow_time=time)
            if event == "followed"
            else community_events.Unfollowed(follower_id="ann", followee_id="olivia", unfollow_time=time)
        )
        await suite.publish_community_event(event, payload, subject="ann")

    await follow("followed", now)

    async def sees_theirs() -> bool:
        return theirs in await _personal_feed(suite, "ann", 50)

    await suite.eventually(sees_theirs)
    assert await _personal_feed(suite, "ann", 1) == [ours, theirs]

    await follow("unfollowed", now + timedelta(seconds=1))

    async def stopped() -> bool:
        return theirs not in await _personal_feed(suite, "ann", 50)

    await suite.eventually(stopped)
    # A late copy of the earlier follow does not bring the followee back.
    await follow("followed", now)
    await suite.settle_community_events()
    assert await _personal_feed(suite, "ann") == [ours]


async def test_posts_stored_before_feeds_get_an_activity_time(suite: Suite) -> None:
    db = suite.content_service.app.infra.db
    created = datetime.now(UTC) - timedelta(days=2)
    await db.questions.insert_one(
        {
            "_id": "legacy-question",
            "community_id": suite.community_id,
            "author_id": "ann",
            "title": "From before feeds",
            "body": "",
            "tags": [],
            "create_time": created,
        }
    )
    fresh = (await suite.ask("ann")).id
    repository = MongoFeedRepository(db)
    assert await repository.backfill_activity_times() == 1
    assert await repository.backfill_activity_times() == 0
    assert await _community_feed(suite, feed_pb2.FEED_ORDER_RECENT_ACTIVITY) == [fresh, "legacy-question"]

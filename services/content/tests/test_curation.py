"""Curation: collections built by curators, followed by members, and items featured on the front page."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
import pytest

from guild.content.v1 import content_service_pb2 as api
from guild.events.v1 import content_events_pb2 as events
from guild_testing.fixtures import auth

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite


async def _create(
    suite: Suite, who: str = "olivia", title: str = "First week"
) -> api.CreateCollectionResponse:
    response: api.CreateCollectionResponse = await suite.content.CreateCollection(
        api.CreateCollectionRequest(
            community_id=suite.community_id, title=title, description="Start here", request_id=title
        ),
        metadata=auth(who),
    )
    return response


async def _add(suite: Suite, collection_id: str, **kw: object) -> api.AddCollectionItemResponse:
    response: api.AddCollectionItemResponse = await suite.content.AddCollectionItem(
        api.AddCollectionItemRequest(collection_id=collection_id, **kw),  # type: ignore[arg-type]
        metadata=auth("olivia"),
    )
    return response


async def _get(suite: Suite, collection_id: str, who: str) -> api.GetCollectionResponse:
    response: api.GetCollectionResponse = await suite.content.GetCollection(
        api.GetCollectionRequest(collection_id=collection_id), metadata=auth(who)
    )
    return response


async def _list(suite: Suite, who: str, drafts: bool = False) -> list[str]:
    response: api.ListCollectionsResponse = await suite.content.ListCollections(
        api.ListCollectionsRequest(community_id=suite.community_id, drafts=drafts), metadata=auth(who)
    )
    return [c.id for c in response.collections]


async def test_curators_build_reorder_and_publish_a_collection(suite: Suite) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _create(suite, "bob")
    assert (caught.value.code(), suite.reason(caught.value)[0]) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_A_CURATOR",
    )
    created = (await _create(suite)).collection
    assert (await _create(suite)).collection.id == created.id  # same request_id
    question = await suite.ask("ann", title="Where is the canteen?")

    a = (await _add(suite, created.id, post_id=question.id, note="Read first")).item
    assert (a.kind, a.title, a.position) == ("post", "Where is the canteen?", 0)
    b = (await _add(suite, created.id, url="HTTPS://Wiki.example.com/map/", title="Site map")).item
    c = (await _add(suite, created.id, url="https://hr.example.com/", title="HR", position=0)).item
    assert b.url == "https://wiki.example.com/map"
    collection = (await _get(suite, created.id, "olivia")).collection
    assert [(i.id, i.position) for i in collection.items] == [(c.id, 0), (a.id, 1), (b.id, 2)]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _add(suite, created.id, post_id=question.id)
    assert suite.reason(caught.value)[0] == "ALREADY_IN_COLLECTION"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _add(suite, created.id, url="ftp://x.org/", note="n" * 501)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"url", "title", "note"} <= set(suite.reason(caught.value)[1])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.ReorderCollectionItems(
            api.ReorderCollectionItemsRequest(collection_id=created.id, item_ids=[a.id, a.id, b.id]),
            metadata=auth("olivia"),
        )
    assert suite.reason(caught.value)[1].keys() == {"item_ids"}

    reordered = await suite.content.ReorderCollectionItems(
        api.ReorderCollectionItemsRequest(collection_id=created.id, item_ids=[b.id, a.id, c.id]),
        metadata=auth("olivia"),
    )
    assert [(i.id, i.position) for i in reordered.collection.items] == [(b.id, 0), (a.id, 1), (c.id, 2)]
    removed = await suite.content.RemoveCollectionItem(
        api.RemoveCollectionItemRequest(collection_id=created.id, item_id=b.id), metadata=auth("olivia")
    )
    assert [(i.id, i.position) for i in removed.collection.items] == [(a.id, 0), (c.id, 1)]

    # A draft: curators see it, members do not.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _get(suite, created.id, "bob")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert await _list(suite, "olivia", drafts=True) == [created.id]
    assert await _list(suite, "bob") == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _list(suite, "bob", drafts=True)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    empty = (await _create(suite, title="Empty")).collection
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.PublishCollection(
            api.PublishCollectionRequest(collection_id=empty.id), metadata=auth("olivia")
        )
    assert suite.reason(caught.value)[0] == "COLLECTION_EMPTY"
    for _ in range(2):
        published = await suite.content.PublishCollection(
            api.PublishCollectionRequest(collection_id=created.id), metadata=auth("olivia")
        )
        assert published.collection.published
    seen = await _get(suite, created.id, "bob")
    assert ([i.id for i in seen.collection.items], seen.following) == ([a.id, c.id], False)
    assert await _list(suite, "bob") == [created.id]
    assert await _list(suite, "olivia", drafts=True) == [empty.id]

    received = await suite.content_events(2)
    published_events = [
        e.payload(events.CollectionPublished) for e in received if e.type.endswith("collection_published.v1")
    ]
    assert [(p.collection_id, p.curator_id, p.item_count) for p in published_events] == [
        (created.id, "olivia", 2)
    ]
    # The external link is not a post: only the question is named.
    assert list(published_events[0].item_post_ids) == [question.id]


async def test_concurrent_additions_keep_every_item_in_order(suite: Suite) -> None:
    created = (await _create(suite)).collection
    await asyncio.gather(
        *(_add(suite, created.id, url=f"https://example.com/{n}", title=f"Page {n}") for n in range(6))
    )
    items = (await _get(suite, created.id, "olivia")).collection.items
    assert sorted(i.url for i in items) == [f"https://example.com/{n}" for n in range(6)]
    assert [i.position for i in items] == list(range(6))


async def test_members_follow_published_collections_counted_once(suite: Suite) -> None:
    created = (await _create(suite)).collection
    await _add(suite, created.id, url="https://example.com/", title="Home")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.FollowCollection(
            api.FollowCollectionRequest(collection_id=created.id), metadata=auth("bob")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    await suite.content.PublishCollection(
        api.PublishCollectionRequest(collection_id=created.id), metadata=auth("olivia")
    )

    async def follow(who: str) -> api.FollowCollectionResponse:
        response: api.FollowCollectionResponse = await suite.content.FollowCollection(
            api.FollowCollectionRequest(collection_id=created.id), metadata=auth(who)
        )
        return response

    await asyncio.gather(follow("ann"), follow("bob"), follow("ann"))
    assert (await follow("bob")).follower_count == 2
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await follow("mallory")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await _get(suite, created.id, "bob")).following
    unfollowed = await suite.content.UnfollowCollection(
        api.UnfollowCollectionRequest(collection_id=created.id), metadata=auth("bob")
    )
    assert unfollowed.follower_count == 1
    again = await suite.content.UnfollowCollection(
        api.UnfollowCollectionRequest(collection_id=created.id), metadata=auth("bob")
    )
    assert again.follower_count == 1
    seen = await _get(suite, created.id, "bob")
    assert (seen.following, seen.collection.follower_count) == (False, 1)

    received = await suite.content_events(3)
    followed = [
        e.payload(events.CollectionFollowed) for e in received if e.type.endswith("collection_followed.v1")
    ]
    assert sorted((f.follower_id, f.curator_id, f.collection_id) for f in followed) == [
        ("ann", "olivia", created.id),
        ("bob", "olivia", created.id),
    ]


async def test_curators_feature_posts_and_collections_on_the_front_page(suite: Suite) -> None:
    question = await suite.ask("ann", title="Parking permits?")
    draft = (await _create(suite)).collection

    async def feature(kind: str, item_id: str, who: str = "olivia") -> api.FeatureItemResponse:
        response: api.FeatureItemResponse = await suite.content.FeatureItem(
            api.FeatureItemRequest(community_id=suite.community_id, item_kind=kind, item_id=item_id),
            metadata=auth(who),
        )
        return response

    async def featured() -> list[tuple[str, str]]:
        response: api.ListFeaturedItemsResponse = await suite.content.ListFeaturedItems(
            api.ListFeaturedItemsRequest(community_id=suite.community_id), metadata=auth("bob")
        )
        return [(i.item_kind, i.item_id) for i in response.items]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await feature("post", question.id, "bob")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await feature("collection", draft.id)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await feature("banner", question.id)
    assert suite.reason(caught.value)[1].keys() == {"item_kind"}

    first = (await feature("post", question.id)).item
    assert (first.title, first.author_id, first.featured_by) == ("Parking permits?", "ann", "olivia")
    assert (await feature("post", question.id)).item.feature_time == first.feature_time
    await _add(suite, draft.id, post_id=question.id)
    await suite.content.PublishCollection(
        api.PublishCollectionRequest(collection_id=draft.id), metadata=auth("olivia")
    )
    await feature("collection", draft.id)
    assert await featured() == [("collection", draft.id), ("post", question.id)]

    await suite.content.UnfeatureItem(
        api.UnfeatureItemRequest(community_id=suite.community_id, item_kind="post", item_id=question.id),
        metadata=auth("olivia"),
    )
    assert await featured() == [("collection", draft.id)]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.UnfeatureItem(
            api.UnfeatureItemRequest(community_id=suite.community_id, item_kind="post", item_id=question.id),
            metadata=auth("olivia"),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    received = await suite.content_events(4)
    featured_events = [
        e.payload(events.ItemFeatured) for e in received if e.type.endswith("item_featured.v1")
    ]
    assert sorted((f.item_kind, f.item_id, f.author_id) for f in featured_events) == [
        ("collection", draft.id, "olivia"),
        ("post", question.id, "ann"),
    ]


async def test_a_deleted_post_leaves_the_front_page(suite: Suite) -> None:
    question = await suite.ask("ann", title="Parking permits?")
    created: api.CreatePostResponse = await suite.content.CreatePost(
        api.CreatePostRequest(
            community_id=suite.community_id, kind="discussion", title="Car sharing", body="Who drives?"
        ),
        metadata=auth("bob"),
    )
    discussion = created.post
    kept = await suite.ask("bob", title="Bike storage?")
    for post_id in (question.id, discussion.id, kept.id):
        await suite.content.FeatureItem(
            api.FeatureItemRequest(community_id=suite.community_id, item_kind="post", item_id=post_id),
            metadata=auth("olivia"),
        )

    async def featured() -> set[str]:
        response: api.ListFeaturedItemsResponse = await suite.content.ListFeaturedItems(
            api.ListFeaturedItemsRequest(community_id=suite.community_id), metadata=auth("bob")
        )
        return {i.item_id for i in response.items}

    assert await featured() == {question.id, discussion.id, kept.id}
    # Deleted by its author.
    await suite.content.DeletePost(api.DeletePostRequest(post_id=question.id), metadata=auth("ann"))
    assert await featured() == {discussion.id, kept.id}
    # Removed by a moderator.
    await suite.content.ModeratePost(
        api.ModeratePostRequest(
            post_id=discussion.id, action=api.MODERATION_ACTION_DELETE, reason="duplicate"
        ),
        metadata=auth("olivia"),
    )
    assert await featured() == {kept.id}

"""Shared resources: one per normalised URL and community, rated 1-5 once per member, counted exactly."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
import pytest

from guild.community.v1 import community_service_pb2 as community_api
from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import resource_pb2
from guild.events.v1 import content_events_pb2 as events
from guild_content.domain.resources import normalise_url
from guild_testing.fixtures import auth

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite


def test_urls_are_normalised_and_checked() -> None:
    assert normalise_url("HTTPS://Docs.Example.COM:443/guide/?utm_source=mail&page=2#top") == (
        "https://docs.example.com/guide?page=2"
    )
    assert normalise_url("http://example.com") == "http://example.com/"
    for bad in (
        "ftp://example.com/file",
        "https://user:secret@example.com/",
        "example.com",
        "https://x.org:99999/",
    ):
        with pytest.raises(ValueError, match="not an http"):
            normalise_url(bad)


async def _share(suite: Suite, who: str = "ann", **kw: object) -> api.ShareResourceResponse:
    fields: dict[str, object] = {
        "community_id": suite.community_id,
        "url": "https://learn.example.com/onboarding/",
        "title": "Onboarding course",
        "media_type": "course",
    }
    fields.update(kw)
    response: api.ShareResourceResponse = await suite.content.ShareResource(
        api.ShareResourceRequest(**fields),  # type: ignore[arg-type]
        metadata=auth(who),
    )
    return response


async def _rate(suite: Suite, item_id: str, who: str, stars: int, review: str = "") -> api.RateItemResponse:
    response: api.RateItemResponse = await suite.content.RateItem(
        api.RateItemRequest(item_id=item_id, stars=stars, review=review), metadata=auth(who)
    )
    return response


async def test_a_url_shared_twice_points_at_the_first_resource(suite: Suite) -> None:
    first = await _share(suite, "ann", tags=["Onboarding"], request_id="r-1")
    assert (first.already_shared, first.resource.url) == (False, "https://learn.example.com/onboarding")
    retried = await _share(suite, "ann", tags=["Onboarding"], request_id="r-1")
    assert (retried.resource.id, retried.already_shared) == (first.resource.id, False)
    again = await _share(
        suite, "bob", url="https://LEARN.example.com/onboarding?utm_campaign=x", title="Same"
    )
    assert (again.resource.id, again.already_shared, again.resource.author_id) == (
        first.resource.id,
        True,
        "ann",
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _share(suite, "bob", url="javascript:alert(1)", title="", media_type="meme", tags=["a b c"] * 1)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"url", "title", "media_type"} <= set(suite.reason(caught.value)[1])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _share(suite, "mallory", url="https://example.org/")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    got = await suite.content.GetResource(
        api.GetResourceRequest(resource_id=first.resource.id), metadata=auth("bob")
    )
    assert (got.resource.title, list(got.resource.tags), got.resource.media_type) == (
        "Onboarding course",
        ["onboarding"],
        "course",
    )
    received = await suite.content_events(1)
    shared = [e.payload(events.ResourceShared) for e in received if e.type.endswith("resource_shared.v1")]
    assert [(s.resource_id, s.url) for s in shared] == [
        (first.resource.id, "https://learn.example.com/onboarding")
    ]


async def test_ratings_are_one_per_member_editable_and_listed_by_rating(suite: Suite) -> None:
    course = (await _share(suite, "ann")).resource
    video = (
        await _share(
            suite, "ann", url="https://video.example.com/v/1", title="Intro video", media_type="video"
        )
    ).resource
    assert (await _rate(suite, course.id, "bob", 5, "Great")).rating.average == 5.0
    changed = await _rate(suite, course.id, "bob", 3)
    assert (changed.previous_stars, changed.rating.count, list(changed.rating.distribution)) == (
        1 * 5,
        1,
        [0, 0, 1, 0, 0],
    )
    both = await _rate(suite, course.id, "olivia", 4)
    assert (both.rating.average, both.rating.count) == (3.5, 2)
    await _rate(suite, video.id, "bob", 5)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _rate(suite, course.id, "ann", 5)
    assert (caught.value.code(), suite.reason(caught.value)[0]) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "OWN_ITEM",
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _rate(suite, course.id, "bob", 6)
    assert "stars" in suite.reason(caught.value)[1]

    top = await suite.content.ListResources(
        api.ListResourcesRequest(
            community_id=suite.community_id, order=resource_pb2.RESOURCE_ORDER_TOP_RATED, page_size=1
        ),
        metadata=auth("bob"),
    )
    rest = await suite.content.ListResources(
        api.ListResourcesRequest(
            community_id=suite.community_id,
            order=resource_pb2.RESOURCE_ORDER_TOP_RATED,
            page_token=top.next_page_token,
        ),
        metadata=auth("bob"),
    )
    assert [r.id for r in [*top.resources, *rest.resources]] == [video.id, course.id]
    newest = await suite.content.ListResources(
        api.ListResourcesRequest(community_id=suite.community_id), metadata=auth("bob")
    )
    assert [r.id for r in newest.resources] == [video.id, course.id]

    received = await suite.content_events(6)
    rated = [e.payload(events.ItemRated) for e in received if e.type.endswith("item_rated.v1")]
    on_course = [(r.rater_id, r.previous_stars, r.stars, r.count) for r in rated if r.item_id == course.id]
    assert on_course == [("bob", 0, 5, 1), ("bob", 5, 3, 1), ("olivia", 0, 4, 2)]


async def test_concurrent_ratings_lose_no_update(suite: Suite) -> None:
    raters = [f"rater{i}" for i in range(12)]
    for person in raters:
        await suite.community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=suite.community_id), metadata=auth(person)
        )
    item = (await _share(suite, "ann")).resource
    stars = [1 + i % 5 for i in range(len(raters))]
    await asyncio.gather(*(_rate(suite, item.id, who, s) for who, s in zip(raters, stars, strict=True)))
    got = await suite.content.GetResource(api.GetResourceRequest(resource_id=item.id), metadata=auth("ann"))
    expected = [stars.count(s) for s in range(1, 6)]
    assert (got.resource.rating.count, list(got.resource.rating.distribution)) == (len(raters), expected)
    assert got.resource.rating.average == pytest.approx(round(sum(stars) / len(stars), 4))


async def test_reviews_and_outdated_marks(suite: Suite) -> None:
    item = (await _share(suite, "ann")).resource
    await _rate(suite, item.id, "bob", 4, "Useful, a bit long")
    await _rate(suite, item.id, "olivia", 2, "")
    await _rate(suite, item.id, "bob", 5, "Useful, and now shorter")
    reviews = await suite.content.ListReviews(api.ListReviewsRequest(item_id=item.id), metadata=auth("ann"))
    assert [(r.rater_id, r.stars, r.review) for r in reviews.reviews] == [
        ("bob", 5, "Useful, and now shorter"),
        ("olivia", 2, ""),
    ]

    fresh = (await _share(suite, "ann", url="https://example.com/fresh", title="Fresh")).resource
    for who in ("bob", "olivia", "bob"):
        marked = await suite.content.MarkOutdated(
            api.MarkOutdatedRequest(resource_id=item.id), metadata=auth(who)
        )
    assert marked.outdated_count == 2
    await suite.content.MarkOutdated(api.MarkOutdatedRequest(resource_id=fresh.id), metadata=auth("bob"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.ListOutdatedResources(
            api.ListOutdatedResourcesRequest(community_id=suite.community_id), metadata=auth("bob")
        )
    assert (caught.value.code(), suite.reason(caught.value)[0]) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_A_CURATOR",
    )
    outdated = await suite.content.ListOutdatedResources(
        api.ListOutdatedResourcesRequest(community_id=suite.community_id), metadata=auth("olivia")
    )
    assert [(r.id, r.outdated_count) for r in outdated.resources] == [(item.id, 2), (fresh.id, 1)]
    received = await suite.content_events(2 + 3 + 3)
    marks = [
        e.payload(events.ItemMarkedOutdated) for e in received if e.type.endswith("item_marked_outdated.v1")
    ]
    assert sorted((m.item_id == item.id, m.member_id, m.outdated_count) for m in marks) == [
        (False, "bob", 1),
        (True, "bob", 1),
        (True, "olivia", 2),
    ]

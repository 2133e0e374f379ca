"""Shared resources and feeds on in-memory ports: a URL shared once, ratings one per member, outdated
marks for curators; community feeds in each order, the personal feed merging communities, followed tags
and people (from community events, applied in time order), pages without gaps or repeats."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from services.content.tests.memory import T0, World, memory_world, who

from guild_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from guild_common.events.meta import EventMeta
from guild_content.app.feeds import FOLLOWED_TAGS_MAX
from guild_content.domain import integration_events as ie
from guild_content.domain.community import Role
from guild_content.domain.feeds import TagFollowed, TagUnfollowed
from guild_content.domain.resources import ItemMarkedOutdated, ItemRated, ResourceShared

ANN, BOB, CAT, CUR, MOD, OUT = (who(s) for s in ("ann", "bob", "cat", "cur", "mod", "out"))


@pytest.fixture
def world() -> World:
    world = memory_world()
    for community, visibility in (("c1", "open"), ("c2", "open"), ("c3", "open"), ("secret", "hidden")):
        world.directory.add_community(community, visibility=visibility)
    for member in ("ann", "bob", "cat"):
        world.directory.add_member("c1", member)
    world.directory.add_member("c1", "cur", Role.CURATOR)
    world.directory.add_member("c1", "mod", Role.MODERATOR)
    world.directory.add_member("c2", "ann")
    for member in ("bob", "mod"):
        world.directory.add_member("c3", member)
        world.directory.add_member("secret", member)
    return world


async def share(
    world: World, url: str, by: str = "ann", title: str = "Staff handbook", request_id: str = ""
) -> str:
    resource, duplicate = await world.resources.share_resource(
        who(by), "c1", url, title, "Everything about us", "article", ["hr"], request_id
    )
    assert not duplicate
    return resource.id


# --- resources ---------------------------------------------------------------------------------------


async def test_a_url_shared_twice_points_at_the_first_resource(world: World) -> None:
    first = await share(world, "https://Example.com/handbook/?utm_source=mail", request_id="r1")
    again, duplicate = await world.resources.share_resource(
        BOB, "c1", "https://example.com/handbook", "Another title", "", "", [], ""
    )
    assert (again.id, duplicate) == (first, True)
    retried, duplicate = await world.resources.share_resource(
        ANN, "c1", "https://example.com/handbook", "Staff handbook", "", "", [], "r1"
    )
    assert (retried.id, duplicate) == (first, False)
    assert world.names() == ["ResourceShared"]
    shared = world.events[0]
    assert isinstance(shared, ResourceShared)
    assert shared.resource.url == "https://example.com/handbook"
    with pytest.raises(InvalidArgument) as bad:
        await world.resources.share_resource(ANN, "c1", "ftp://x", "", "", "poster", [], "")
    assert {"url", "title", "media_type"} <= {v.field for v in bad.value.violations}
    with pytest.raises(PermissionDenied):
        await world.resources.share_resource(OUT, "c1", "https://example.com/x", "X marks", "", "", [], "")


async def test_ratings_are_one_per_member_and_listed_by_rating(world: World) -> None:
    handbook = await share(world, "https://example.com/handbook")
    wiki = await share(world, "https://example.com/wiki", by="bob", title="Team wiki")
    first = await world.resources.rate(BOB, handbook, 4, "Useful")
    again = await world.resources.rate(BOB, handbook, 4, "Useful")  # the same rating again: still one
    assert (first[0], again[0], again[1]) == (0, 4, first[1])
    assert (again[1].count, again[1].average) == (1, 4.0)
    previous, summary = await world.resources.rate(BOB, handbook, 2, "Less so now")
    assert (previous, summary.count, summary.average) == (4, 1, 2.0)
    await world.resources.rate(ANN, wiki, 5, "")
    _, summary = await world.resources.rate(CAT, wiki, 4, "")
    assert (summary.count, summary.average, summary.distribution) == (2, 4.5, (0, 0, 0, 1, 1))
    top = await world.resources.list_resources(OUT, "c1", True, 1, "")
    assert [r.id for r in top.items] == [wiki]
    assert [
        r.id for r in (await world.resources.list_resources(OUT, "c1", True, 5, top.next_token)).items
    ] == [handbook]
    rated = [e for e in world.events if isinstance(e, ItemRated)]
    assert [(e.rater_id, e.stars, e.previous_stars) for e in rated] == [
        ("bob", 4, 0),
        ("bob", 4, 4),
        ("bob", 2, 4),
        ("ann", 5, 0),
        ("cat", 4, 0),
    ]
    with pytest.raises(FailedPrecondition) as own:
        await world.resources.rate(ANN, handbook, 5, "")
    assert own.value.reason == "OWN_ITEM"
    with pytest.raises(InvalidArgument) as stars:
        await world.resources.rate(BOB, handbook, 6, "")
    assert [v.field for v in stars.value.violations] == ["stars"]
    with pytest.raises(NotFound) as missing:
        await world.resources.rate(BOB, "nope", 3, "")
    assert missing.value.reason == "RESOURCE_NOT_FOUND"


async def test_concurrent_ratings_lose_no_update(world: World) -> None:
    handbook = await share(world, "https://example.com/handbook")
    raters = [f"m{i}" for i in range(10)]
    for rater in raters:
        world.directory.add_member("c1", rater)
    await asyncio.gather(
        *(world.resources.rate(who(r), handbook, 1 + i % 5, "") for i, r in enumerate(raters))
    )
    resource = await world.resources.get_resource(OUT, handbook)
    assert (resource.rating.count, resource.rating.distribution) == (10, (2, 2, 2, 2, 2))


async def test_reviews_and_outdated_marks(world: World) -> None:
    handbook = await share(world, "https://example.com/handbook")
    await world.resources.rate(BOB, handbook, 4, "Useful")
    await world.resources.rate(CAT, handbook, 3, "Dated")
    reviews = await world.resources.list_reviews(OUT, handbook, 1, "")
    assert [(r.rater_id, r.review) for r in reviews.items] == [("cat", "Dated")]
    more = await world.resources.list_reviews(OUT, handbook, 5, reviews.next_token)
    assert [(r.rater_id, r.review) for r in more.items] == [("bob", "Useful")]

    assert await world.resources.mark_outdated(BOB, handbook) == 1
    assert await world.resources.mark_outdated(BOB, handbook) == 1
    assert await world.resources.mark_outdated(CAT, handbook) == 2
    assert [e.outdated_count for e in world.events if isinstance(e, ItemMarkedOutdated)] == [1, 2]
    with pytest.raises(PermissionDenied) as member:
        await world.resources.list_outdated(BOB, "c1", 10, "")
    assert member.value.reason == "NOT_A_CURATOR"
    outdated = await world.resources.list_outdated(CUR, "c1", 10, "")
    assert [(r.id, r.outdated_count) for r in outdated.items] == [(handbook, 2)]


# --- community feed ----------------------------------------------------------------------------------


async def community_feed(world: World, order: str, page_size: int = 50, who_: str = "cat") -> list[str]:
    ids: list[str] = []
    token = ""
    while True:
        page = await world.feeds.community_feed(who(who_), "c1", order, page_size, token)
        ids += [e.id for e in page.items]
        token = page.next_token
        if not token:
            break
    assert len(ids) == len(set(ids))
    return ids


async def test_community_feed_newest_active_and_top(world: World) -> None:
    question = (await world.questions.ask(ANN, "c1", "How do I book leave?", "", [], "")).id
    discussion = (
        await world.questions.create_post(BOB, "c1", "discussion", "Lunch spots", "Ideas?", [], "")
    ).id
    resource = await share(world, "https://example.com/handbook")
    notice = (
        await world.questions.create_post(MOD, "c1", "announcement", "Closed Friday", "Sorry", [], "")
    ).id
    assert await community_feed(world, "newest") == [notice, resource, discussion, question]
    for page_size in (1, 2, 3):
        assert await community_feed(world, "newest", page_size) == [notice, resource, discussion, question]

    await world.questions.answer(BOB, question, "Use the HR portal.", "")
    await world.questions.add_comment(ANN, discussion, "Agreed", "")
    assert await community_feed(world, "activity", 3) == [discussion, question, notice, resource]

    await world.questions.vote(ANN, discussion, 1)
    await world.questions.vote(MOD, discussion, 1)
    await world.questions.vote(BOB, question, 1)
    await world.resources.rate(BOB, resource, 5, "")
    disliked = await share(world, "https://example.com/outdated")
    await world.resources.rate(BOB, disliked, 1, "")
    scored = [(2, discussion), (1, question), (1, resource), (0, notice), (-1, disliked)]
    week = [post_id for _, post_id in sorted(scored, reverse=True)]
    assert await community_feed(world, "top_week", 2) == week

    world.clock.now = T0 + timedelta(days=10)  # all of it older than a week, not than a month
    assert await community_feed(world, "top_week") == []
    assert await community_feed(world, "top_month") == week

    with pytest.raises(NotFound):
        await world.feeds.community_feed(BOB, "nowhere", "newest", 10, "")
    with pytest.raises(InvalidArgument) as order:
        await world.feeds.community_feed(BOB, "c1", "oldest", 10, "")
    assert [v.field for v in order.value.violations] == ["order"]
    with pytest.raises(NotFound):
        await world.feeds.community_feed(ANN, "secret", "newest", 10, "")


async def test_hidden_and_deleted_posts_leave_the_feed(world: World) -> None:
    kept = (await world.questions.ask(ANN, "c1", "Kept question?", "", [], "")).id
    gone = (await world.questions.ask(ANN, "c1", "Deleted question?", "", [], "")).id
    hidden = (await world.questions.ask(ANN, "c1", "Hidden question?", "", [], "")).id
    await world.questions.delete(ANN, gone, "")
    await world.moderation.moderate(MOD, hidden, "hide", "spam")
    assert await community_feed(world, "newest") == [kept]


# --- personal feed -----------------------------------------------------------------------------------


async def personal_feed(world: World, who_: str = "ann", page_size: int = 50) -> list[str]:
    ids: list[str] = []
    token = ""
    while True:
        page = await world.feeds.personal_feed(who(who_), page_size, token)
        ids += [e.id for e in page.items]
        token = page.next_token
        if not token:
            break
    assert len(ids) == len(set(ids))
    return ids


async def test_personal_feed_merges_communities_and_followed_tags(world: World) -> None:
    first = (
        await world.questions.create_post(BOB, "c1", "discussion", "Python tips", "x", ["python"], "")
    ).id
    world.directory.add_member("c2", "mod", Role.MODERATOR)
    elsewhere = (await world.questions.create_post(MOD, "c2", "article", "Engineers", "x", [], "")).id
    hidden = (await world.questions.create_post(BOB, "secret", "discussion", "Py", "x", ["python"], "")).id
    tagged = (await world.questions.create_post(BOB, "c3", "discussion", "Py", "x", ["Python"], "")).id
    untagged = (await world.questions.create_post(BOB, "c3", "discussion", "Go", "x", ["go"], "")).id
    resource = await share(world, "https://example.com/guide", by="bob")
    latest = (await world.questions.ask(BOB, "c1", "Who runs the python meetup?", "", [], "")).id
    assert await personal_feed(world) == [latest, resource, elsewhere, first]

    assert await world.feeds.follow_tag(ANN, " Python ") == "python"
    assert await world.feeds.follow_tag(ANN, "python") == "python"
    assert (await world.feeds.followed_tags(ANN, 10, "")).items == ["python"]
    for page_size in (1, 2, 3, 50):
        assert await personal_feed(world, page_size=page_size) == [latest, resource, tagged, elsewhere, first]
    assert hidden not in await personal_feed(world)
    assert untagged not in await personal_feed(world)

    assert await world.feeds.unfollow_tag(ANN, "python") == "python"
    assert await world.feeds.unfollow_tag(ANN, "python") == "python"
    assert await personal_feed(world) == [latest, resource, elsewhere, first]
    assert [type(e) for e in world.events if isinstance(e, TagFollowed | TagUnfollowed)] == [
        TagFollowed,
        TagUnfollowed,
    ]
    with pytest.raises(InvalidArgument) as tag:
        await world.feeds.follow_tag(ANN, "no spaces allowed!")
    assert [v.field for v in tag.value.violations] == ["tag"]


async def test_tag_follows_are_bounded(world: World) -> None:
    for i in range(FOLLOWED_TAGS_MAX):
        await world.feeds.follow_tag(ANN, f"tag{i}")
    with pytest.raises(FailedPrecondition) as full:
        await world.feeds.follow_tag(ANN, "onemore")
    assert full.value.reason == "TOO_MANY_TAGS"
    assert await world.feeds.follow_tag(ANN, "tag0") == "tag0"  # followed already: no error
    await world.feeds.unfollow_tag(ANN, "tag0")
    assert await world.feeds.follow_tag(ANN, "onemore") == "onemore"


def _meta(event_id: str) -> EventMeta:
    return EventMeta(event_id, "t", "/guild/community", "s", T0, "emea", "induction")


async def test_personal_feed_follows_people_from_community_events(world: World) -> None:
    hers = (await world.questions.create_post(BOB, "c3", "discussion", "Bob in c3", "x", [], "")).id
    secret = (await world.questions.create_post(BOB, "secret", "discussion", "Bob hidden", "x", [], "")).id
    follow = ie.PersonFollowChanged(_meta("e1"), "ann", "bob", True, T0 + timedelta(minutes=1))
    for _ in range(2):  # a redelivery changes nothing
        await world.feed_handlers.person_follow_changed(follow)
    feed = await personal_feed(world)
    assert hers in feed
    assert secret not in feed

    stale = ie.PersonFollowChanged(_meta("e0"), "ann", "bob", False, T0)  # older than the follow
    await world.feed_handlers.person_follow_changed(stale)
    assert hers in await personal_feed(world)
    ended = ie.PersonFollowChanged(_meta("e2"), "ann", "bob", False, T0 + timedelta(minutes=2))
    await world.feed_handlers.person_follow_changed(ended)
    assert hers not in await personal_feed(world)

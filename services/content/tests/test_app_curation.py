"""Curation on in-memory ports: collections built, reordered and published by curators, followed by
members, the front page, and duplicate marks; with the role rules and the events each change publishes."""

from __future__ import annotations

import asyncio

import pytest
from services.content.tests.memory import World, memory_world, who

from guild_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from guild_content.domain.community import Role
from guild_content.domain.curation import Collection, CollectionFollowed, CollectionPublished, ItemFeatured
from guild_content.domain.duplicates import DuplicateMarked
from guild_content.domain.questions import Question

ANN, BOB, CUR, OUT = (who(s) for s in ("ann", "bob", "cur", "out"))


@pytest.fixture
def world() -> World:
    world = memory_world()
    world.directory.add_community("c1")
    world.directory.add_community("c2")
    world.directory.add_community("secret", visibility="hidden")
    for community in ("c1", "c2", "secret"):
        world.directory.add_member(community, "ann")
        world.directory.add_member(community, "bob")
        world.directory.add_member(community, "cur", Role.CURATOR)
    return world


async def ask(world: World, title: str, community: str = "c1") -> Question:
    return await world.questions.ask(ANN, community, title, "", [], "")


async def create(world: World, title: str = "Your first week", request_id: str = "r1") -> Collection:
    return await world.curation.create_collection(CUR, "c1", title, "", request_id)


async def add_url(world: World, collection_id: str, url: str, title: str, position: int | None = None) -> str:
    _, item = await world.curation.add_item(
        CUR, collection_id, post_id="", url=url, title=title, note="", position=position, request_id=""
    )
    return item.id


async def test_curators_build_reorder_and_publish_a_collection(world: World) -> None:
    with pytest.raises(PermissionDenied) as member:
        await world.curation.create_collection(BOB, "c1", "Mine", "", "")
    assert member.value.reason == "NOT_A_CURATOR"
    created = await create(world)
    assert (await create(world)).id == created.id  # the same request id
    question = await ask(world, "Where is the canteen?")
    _, a = await world.curation.add_item(
        CUR,
        created.id,
        post_id=question.id,
        url="",
        title="",
        note="Read first",
        position=None,
        request_id="",
    )
    assert (a.kind, a.title, a.position) == ("post", "Where is the canteen?", 0)
    b = await add_url(world, created.id, "HTTPS://Wiki.example.com/map/", "Site map")
    c = await add_url(world, created.id, "https://hr.example.com/", "HR", position=0)
    collection, _ = await world.curation.get_collection(CUR, created.id)
    assert [(i.id, i.position) for i in collection.items] == [(c, 0), (a.id, 1), (b, 2)]
    assert collection.items[2].url == "https://wiki.example.com/map"

    with pytest.raises(FailedPrecondition) as twice:
        await world.curation.add_item(
            CUR, created.id, post_id=question.id, url="", title="", note="", position=None, request_id=""
        )
    assert twice.value.reason == "ALREADY_IN_COLLECTION"
    with pytest.raises(InvalidArgument) as bad:
        await world.curation.add_item(
            CUR,
            created.id,
            post_id="",
            url="ftp://x.org/",
            title="",
            note="n" * 501,
            position=None,
            request_id="",
        )
    assert {"url", "title", "note"} <= {v.field for v in bad.value.violations}
    with pytest.raises(InvalidArgument) as order:
        await world.curation.reorder(CUR, created.id, [a.id, a.id, b])
    assert [v.field for v in order.value.violations] == ["item_ids"]

    reordered = await world.curation.reorder(CUR, created.id, [b, a.id, c])
    assert [(i.id, i.position) for i in reordered.items] == [(b, 0), (a.id, 1), (c, 2)]
    removed = await world.curation.remove_item(CUR, created.id, b)
    assert [(i.id, i.position) for i in removed.items] == [(a.id, 0), (c, 1)]
    with pytest.raises(NotFound):
        await world.curation.remove_item(CUR, created.id, b)

    # a draft: curators see it, members do not
    with pytest.raises(NotFound):
        await world.curation.get_collection(BOB, created.id)
    assert [c.id for c in (await world.curation.list_collections(CUR, "c1", True, 10, "")).items] == [
        created.id
    ]
    assert (await world.curation.list_collections(BOB, "c1", False, 10, "")).items == []
    with pytest.raises(PermissionDenied):
        await world.curation.list_collections(BOB, "c1", True, 10, "")

    empty = await create(world, "Empty", "r2")
    with pytest.raises(FailedPrecondition) as nothing:
        await world.curation.publish(CUR, empty.id)
    assert nothing.value.reason == "COLLECTION_EMPTY"
    for _ in range(2):
        assert (await world.curation.publish(CUR, created.id)).published
    published = [e for e in world.events if isinstance(e, CollectionPublished)]
    assert [(p.collection.id, len(p.collection.items)) for p in published] == [(created.id, 2)]
    seen, following = await world.curation.get_collection(BOB, created.id)
    assert ([i.id for i in seen.items], following) == ([a.id, c], False)
    assert [c.id for c in (await world.curation.list_collections(BOB, "c1", False, 10, "")).items] == [
        created.id
    ]


async def test_concurrent_additions_keep_every_item_in_order(world: World) -> None:
    created = await create(world)
    urls = [f"https://example.com/{i}" for i in range(8)]
    await asyncio.gather(*(add_url(world, created.id, url, f"Link {i}") for i, url in enumerate(urls)))
    collection, _ = await world.curation.get_collection(CUR, created.id)
    assert sorted(i.url for i in collection.items) == sorted(urls)
    assert [i.position for i in collection.items] == list(range(8))


async def test_members_follow_published_collections_counted_once(world: World) -> None:
    created = await create(world)
    await add_url(world, created.id, "https://example.com/a", "A")
    with pytest.raises(FailedPrecondition) as curator:
        await world.curation.follow(CUR, created.id, True)
    assert curator.value.reason == "NOT_PUBLISHED"
    with pytest.raises(NotFound):
        await world.curation.follow(BOB, created.id, True)
    await world.curation.publish(CUR, created.id)
    assert await world.curation.follow(BOB, created.id, True) == 1
    assert await world.curation.follow(BOB, created.id, True) == 1
    assert await world.curation.follow(ANN, created.id, True) == 2
    assert (await world.curation.get_collection(BOB, created.id))[1]
    assert await world.curation.follow(BOB, created.id, False) == 1
    assert await world.curation.follow(BOB, created.id, False) == 1
    followed = [e for e in world.events if isinstance(e, CollectionFollowed)]
    assert [(e.follower_id, e.follower_count) for e in followed] == [("bob", 1), ("ann", 2)]
    with pytest.raises(PermissionDenied):
        await world.curation.follow(OUT, created.id, True)


async def test_curators_feature_live_posts_and_published_collections(world: World) -> None:
    question = await ask(world, "Where is the canteen?")
    elsewhere = await ask(world, "Elsewhere?", community="c2")
    draft = await create(world)
    with pytest.raises(PermissionDenied):
        await world.curation.feature(BOB, "c1", "post", question.id)
    with pytest.raises(InvalidArgument) as kind:
        await world.curation.feature(CUR, "c1", "poster", question.id)
    assert [v.field for v in kind.value.violations] == ["item_kind"]
    with pytest.raises(NotFound) as other:
        await world.curation.feature(CUR, "c1", "post", elsewhere.id)
    assert other.value.reason == "POST_NOT_FOUND"
    with pytest.raises(NotFound) as unpublished:
        await world.curation.feature(CUR, "c1", "collection", draft.id)
    assert unpublished.value.reason == "COLLECTION_NOT_FOUND"

    featured = await world.curation.feature(CUR, "c1", "post", question.id)
    assert (featured.title, featured.author_id) == ("Where is the canteen?", "ann")
    await world.curation.feature(CUR, "c1", "post", question.id)  # featured already: nothing new
    assert [type(e) for e in world.events].count(ItemFeatured) == 1
    await add_url(world, draft.id, "https://example.com/a", "A")
    await world.curation.publish(CUR, draft.id)
    await world.curation.feature(CUR, "c1", "collection", draft.id)
    front = await world.curation.list_featured(OUT, "c1", 1, "")
    assert [f.item_id for f in front.items] == [draft.id]
    rest = await world.curation.list_featured(OUT, "c1", 5, front.next_token)
    assert [f.item_id for f in rest.items] == [question.id]

    await world.curation.unfeature(CUR, "c1", "collection", draft.id)
    with pytest.raises(NotFound) as again:
        await world.curation.unfeature(CUR, "c1", "collection", draft.id)
    assert again.value.reason == "NOT_FEATURED"
    with pytest.raises(NotFound):
        await world.curation.list_featured(OUT, "secret", 5, "")


async def test_curators_mark_a_later_question_a_duplicate_of_the_chains_root(world: World) -> None:
    zero = await ask(world, "Mileage rates?")
    first = await ask(world, "How do I claim mileage?")
    second = await ask(world, "Mileage claims?")
    third = await ask(world, "Claiming mileage for travel?")
    with pytest.raises(PermissionDenied):
        await world.curation.mark_duplicate(BOB, second.id, first.id)
    marked = await world.curation.mark_duplicate(CUR, second.id, first.id)
    assert marked.duplicate_of == first.id
    assert (
        await world.curation.mark_duplicate(CUR, second.id, first.id)
    ).duplicate_of == first.id  # no change
    chained = await world.curation.mark_duplicate(CUR, third.id, second.id)
    assert chained.duplicate_of == first.id  # the root of the chain
    marks = [e for e in world.events if isinstance(e, DuplicateMarked)]
    assert [(m.question.id, m.duplicate_of, m.marked) for m in marks] == [
        (second.id, first.id, True),
        (third.id, first.id, True),
    ]
    with pytest.raises(FailedPrecondition) as marked_already:
        await world.curation.mark_duplicate(CUR, third.id, zero.id)
    assert marked_already.value.reason == "ALREADY_MARKED"
    with pytest.raises(FailedPrecondition) as later:
        await world.curation.mark_duplicate(CUR, zero.id, first.id)
    assert later.value.reason == "NOT_EARLIER"

    unmarked = await world.curation.unmark_duplicate(CUR, second.id)
    assert unmarked.duplicate_of == ""
    assert (await world.curation.unmark_duplicate(CUR, second.id)).duplicate_of == ""
    assert [m.marked for m in world.events if isinstance(m, DuplicateMarked)] == [True, True, False]
    stored, _ = await world.questions.get_question(ANN, second.id, 0)
    assert stored.duplicate_of == ""


async def test_duplicate_marks_need_visible_questions_of_readable_communities(world: World) -> None:
    first = await ask(world, "How do I claim mileage?")
    secret = await ask(world, "Secret mileage?", community="secret")
    with pytest.raises(NotFound) as missing:
        await world.curation.mark_duplicate(CUR, first.id, "nope")
    assert missing.value.reason == "QUESTION_NOT_FOUND"
    with pytest.raises(NotFound):
        await world.curation.mark_duplicate(OUT, secret.id, first.id)
    with pytest.raises(InvalidArgument):
        await world.curation.mark_duplicate(CUR, first.id, first.id)
    elsewhere = await ask(world, "Mileage elsewhere?", community="c2")
    with pytest.raises(FailedPrecondition) as other:
        await world.curation.mark_duplicate(CUR, elsewhere.id, first.id)
    assert other.value.reason == "OTHER_COMMUNITY"

"""Badges on in-memory ports: the catalogue earned once from activity, the curator badge from rated
collections, the champion badge owners grant, and who sees which awards."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from services.reputation.tests.app_world import C1, C2, SERVICE, World, meta, who
from services.reputation.tests.memory import T0

from guild.events.v1 import reputation_events_pb2 as rep_events
from guild_common.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from guild_reputation.domain import integration_events as ev
from guild_reputation.domain.badges import CITATION_MAX

BRONZE, SILVER, GOLD = "bronze", "silver", "gold"


@pytest.fixture
def world() -> World:
    return World()


async def badges_of(world: World, member: str, community: str = "") -> set[tuple[str, str]]:
    page = await world.badge_use_cases.list(who(member), member, community, 100, "")
    return {(a.badge, a.tier.value) for a in page.items}


def answer(answer_id: str, author: str, question: str = "q1", asker: str = "ann") -> ev.AnswerPosted:
    return ev.AnswerPosted(meta(), answer_id, question, C1, author, asker, ())


# The catalogue


async def test_first_question_and_a_streak_of_four_weeks(world: World) -> None:
    for weeks_ago in (3, 2, 1, 0):
        await world.ask(f"q{weeks_ago}", "ann", time=T0 - timedelta(weeks=weeks_ago))
    assert await badges_of(world, "ann") == {("first_question", BRONZE), ("streak", BRONZE)}


async def test_a_week_missed_breaks_the_streak(world: World) -> None:
    for weeks_ago in (4, 3, 2, 0):
        await world.ask(f"q{weeks_ago}", "ann", time=T0 - timedelta(weeks=weeks_ago))
    assert await badges_of(world, "ann") == {("first_question", BRONZE)}


async def test_five_others_answering_a_question_make_its_asker_a_conversation_starter(world: World) -> None:
    await world.ask("q1", "ann")
    first = answer("a0", "p0")
    await world.handle(first)
    await world.handle(first)  # redelivered: one answer
    await world.handle(answer("a-self", "ann"))  # her own answer counts for nothing
    for i in range(1, 4):
        await world.handle(answer(f"a{i}", f"p{i}"))
    assert ("conversation_starter", BRONZE) not in await badges_of(world, "ann")
    await world.handle(answer("a4", "p4"))
    assert ("conversation_starter", BRONZE) in await badges_of(world, "ann")
    assert await badges_of(world, "p0") == {("first_answer", BRONZE), ("streak", BRONZE)} - {
        ("streak", BRONZE)
    }


async def test_ten_accepted_answers_make_a_mentor_each_counted_once(world: World) -> None:
    for i in range(10):
        await world.ask(f"c{i}", "cat")
        await world.handle(answer(f"b{i}", "bob", f"c{i}", "cat"))
        acceptance = ev.AnswerAccepted(meta(), f"b{i}", f"c{i}", C1, "bob", "cat", "T", ())
        await world.handle(acceptance)
        if i == 0:
            await world.handle(ev.AnswerUnaccepted(meta(), "b0", C1, "bob"))
            await world.handle(ev.AnswerAccepted(meta(), "b0", "c0", C1, "bob", "cat", "T", ()))  # again
        if i == 8:
            assert ("mentor", BRONZE) not in await badges_of(world, "bob")
    assert await badges_of(world, "bob") == {
        ("first_answer", BRONZE),
        ("first_accepted_answer", BRONZE),
        ("mentor", BRONZE),
    }
    every = (await world.badge_use_cases.list(SERVICE, "bob", "", 100, "")).items
    assert [a.badge for a in every].count("first_accepted_answer") == 1


async def test_an_answers_score_earns_the_helpful_tiers_unless_removed(world: World) -> None:
    await world.ask("q1", "ann")
    for i, score in enumerate((9, 10, 25)):
        await world.handle(ev.VoteChanged(meta(), "answer", "a1", "q1", C1, f"v{i}", "bob", 0, 1, score, ()))
    assert {b for b in await badges_of(world, "bob") if b[0] == "helpful"} == {
        ("helpful", BRONZE),
        ("helpful", SILVER),
    }
    await world.handle(ev.PostRemoved(meta(), "a2", C1, "cat", True))
    await world.handle(ev.VoteChanged(meta(), "answer", "a2", "q1", C1, "v9", "cat", 0, 1, 100, ()))
    assert await badges_of(world, "cat") == set()


async def test_each_award_releases_its_badge_awarded_event(world: World) -> None:
    await world.ask("q1", "ann", event_id="e-q")
    [event] = [
        e for e in world.badges.events if rep_events.BadgeAwarded.FromString(e.data).badge == "first_question"
    ]
    awarded = rep_events.BadgeAwarded.FromString(event.data)
    assert (awarded.community_id, awarded.member_id, awarded.tier, awarded.source_event_id) == (
        C1,
        "ann",
        BRONZE,
        "e-q",
    )
    assert event.type == "guild.reputation.badge_awarded.v1"
    await world.ask("q2", "ann")
    assert len(world.badges.events) == 1  # awarded once


# The curator badge


def rated(item: str, average: float, minute: int) -> ev.ItemRated:
    return ev.ItemRated(
        meta(),
        item,
        "resource",
        C1,
        "writer",
        f"rater-{minute}",
        4,
        average,
        2,
        T0 + timedelta(minutes=minute),
    )


def published(
    collection: str, items: Sequence[str], minute: int, event_id: str = ""
) -> ev.CollectionPublished:
    return ev.CollectionPublished(
        meta(event_id), collection, C1, "cur", collection, tuple(items), T0 + timedelta(minutes=minute)
    )


async def test_collections_of_well_rated_items_earn_the_curator_tiers_once(world: World) -> None:
    k1 = [f"a{n}" for n in range(5)]
    await world.handle(published("k1", k1, 1))
    for m, item in enumerate(k1[:4]):
        await world.handle(rated(item, 4.5, 2 + m))
    await world.handle(rated("a4", 3.5, 10))
    k2 = [f"b{n}" for n in range(4)]
    for m, item in enumerate(k2):
        await world.handle(rated(item, 5.0, 11 + m))
    await world.handle(published("k2", k2, 15))  # four items: too few, ever
    await world.handle(rated("a4", 4.8, 0))  # older than its 3.5: does not count
    assert await badges_of(world, "cur") == set()
    await world.handle(rated("a4", 4.2, 20))
    assert await badges_of(world, "cur") == {("curator", BRONZE)}
    k3 = ["a1", "c1", "c2", "c3", "c4"]
    for m, item in enumerate(k3[1:]):
        await world.handle(rated(item, 4.0, 21 + m))
    k4 = [f"d{n}" for n in range(6)]
    for m, item in enumerate(k4):
        await world.handle(rated(item, 5.0, 30 + m))
    await world.handle(published("k3", k3, 40))
    k4_published = published("k4", k4, 41, "pub-k4")
    await world.handle(k4_published)
    await world.handle(k4_published)
    await world.handle(rated("a1", 4.9, 50))  # judges k1 and k3 again: no new award
    assert await badges_of(world, "cur") == {("curator", BRONZE), ("curator", SILVER)}
    assert await world.badges.fact_subjects(C1, "cur", "curated_collection") == {"k1", "k3", "k4"}
    assert len(world.badges.events) == 2


# The champion badge


async def owners_world() -> World:
    world = World()
    await world.join("gone", C1)
    await world.handle(ev.MemberLeft(meta(time=T0 + timedelta(seconds=1)), C1, "gone"))
    await world.join("olivia", C1, "owner")
    await world.join("max", C1)
    return world


async def test_owners_grant_the_champion_badge_once_with_a_citation() -> None:
    world = await owners_world()
    award = await world.badge_use_cases.grant_champion(who("olivia"), C1, "max", "  Ran the clinic  ")
    assert (award.badge, award.citation, award.granted_by, award.title) == (
        "champion",
        "Ran the clinic",
        "olivia",
        "Champion",
    )
    with pytest.raises(AlreadyExists) as exists:
        await world.badge_use_cases.grant_champion(who("olivia"), C1, "max", "Again")
    assert exists.value.reason == "ALREADY_AWARDED"
    listed = await world.badge_use_cases.list(who("max"), "", "", 10, "")
    assert [(a.badge, a.citation) for a in listed.items] == [("champion", "Ran the clinic")]
    awarded = rep_events.BadgeAwarded.FromString(world.badges.events[-1].data)
    assert (awarded.badge, awarded.granted_by) == ("champion", "olivia")
    assert world.badges.events[-1].region == "emea"


async def test_champion_grants_are_checked() -> None:
    world = await owners_world()
    grants = world.badge_use_cases
    with pytest.raises(PermissionDenied) as denied:
        await grants.grant_champion(who("max"), C1, "olivia", "x")
    assert denied.value.reason == "NOT_COMMUNITY_OWNER"
    for member in ("gone", "never"):
        with pytest.raises(NotFound) as missing:
            await grants.grant_champion(who("olivia"), C1, member, "x")
        assert missing.value.reason == "MEMBER_NOT_FOUND"
    with pytest.raises(InvalidArgument) as caught:
        await grants.grant_champion(who("olivia"), "", "", " ")
    assert {v.field for v in caught.value.violations} == {"community_id", "member_id", "citation"}
    with pytest.raises(InvalidArgument):
        await grants.grant_champion(who("olivia"), C1, "max", "x" * (CITATION_MAX + 1))
    assert world.badges.events == []


# Who sees which awards


async def test_awards_in_a_hidden_community_are_seen_by_the_member_its_members_and_services() -> None:
    world = World()
    await world.create_community(C1, "hidden")
    await world.join("olivia", C1, "owner")
    await world.ask("q1", "ann", C1)
    await world.ask("q2", "ann", C2)
    assert {a.community_id for a in (await world.badge_use_cases.list(who("ann"), "", "", 10, "")).items} == {
        C1,
        C2,
    }
    seen = await world.badge_use_cases.list(who("stranger"), "ann", "", 10, "")
    assert {a.community_id for a in seen.items} == {C2}
    with pytest.raises(NotFound):
        await world.badge_use_cases.list(who("stranger"), "ann", C1, 10, "")
    for caller in (who("olivia"), SERVICE):
        seen = await world.badge_use_cases.list(caller, "ann", "", 10, "")
        assert {a.community_id for a in seen.items} == {C1, C2}


async def test_awards_page_newest_first_without_gaps_or_repeats(world: World) -> None:
    for weeks_ago in range(12, -1, -1):
        await world.ask(f"q{weeks_ago}", "ann", time=T0 - timedelta(weeks=weeks_ago))
    ids: list[str] = []
    token = ""
    while True:
        page = await world.badge_use_cases.list(who("x"), "ann", "", 1, token)
        ids += [a.id for a in page.items]
        token = page.next_token
        if not token:
            break
    every = await world.badge_use_cases.list(who("x"), "ann", "", 100, "")
    assert ids == [a.id for a in every.items]
    assert len(set(ids)) == 3  # first question, streak bronze and silver
    times = [a.time for a in every.items]
    assert times == sorted(times, reverse=True)

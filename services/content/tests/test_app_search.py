"""Search, similar questions and questions meaning the same on in-memory ports: matching terms, filters,
the caller's communities only, pages without gaps, and suggestions by meaning (a term-bag embedder)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from services.content.tests.memory import T0, TermEmbedder, World, memory_world, who

from guild_common.errors import InvalidArgument, NotFound
from guild_content.domain.community import Role
from guild_content.domain.posts import Text
from guild_content.domain.questions import Question

ANN, BOB, CAT, CHAMP, OUT = (who(s) for s in ("ann", "bob", "cat", "champ", "out"))


def _world(**kw: object) -> World:
    world = memory_world(**kw)  # type: ignore[arg-type]
    world.directory.add_community("c1")
    world.directory.add_community("c2")
    world.directory.add_community("secret", visibility="hidden")
    for member in ("ann", "bob", "cat"):
        world.directory.add_member("c1", member)
    world.directory.add_member("c1", "champ", Role.CHAMPION)
    world.directory.add_member("c2", "ann")
    world.directory.add_member("c2", "cat")
    world.directory.add_member("secret", "cat")
    return world


@pytest.fixture
def world() -> World:
    return _world()


async def ask(
    world: World,
    title: str,
    body: str = "",
    tags: tuple[str, ...] = (),
    *,
    by: str = "ann",
    community: str = "c1",
) -> Question:
    return await world.questions.ask(who(by), community, title, body, list(tags), "")


async def test_search_ranks_title_matches_first_and_filters_by_tag_and_answers(world: World) -> None:
    in_title = await ask(world, "Booking annual leave", "Which form?", ("hr",))
    in_body = await ask(world, "Holiday rules", "How many days of annual leave do we get?", by="bob")
    by_tag = await ask(world, "Carry-over of days", "Can I move days?", ("leave",), by="bob")
    await ask(world, "Expenses", "Where do I claim travel?", ("hr",))
    await world.questions.answer(CAT, in_body.id, "25 days", "")

    found = await world.search.search(CAT, "Annual leave?", "c1", "", None, 10, "")
    assert [(h.question.id, h.relevance) for h in found.items] == [
        (in_title.id, 4),
        (in_body.id, 2),
        (by_tag.id, 1),
    ]
    assert found.items[0].matched_terms == ["annual", "leave"]
    tagged = await world.search.search(CAT, "leave", "c1", "HR", None, 10, "")
    assert [h.question.id for h in tagged.items] == [in_title.id]
    unanswered = await world.search.search(CAT, "annual leave", "c1", "", False, 10, "")
    assert [h.question.id for h in unanswered.items] == [in_title.id, by_tag.id]
    answered = await world.search.search(CAT, "annual leave", "c1", "", True, 10, "")
    assert [h.question.id for h in answered.items] == [in_body.id]

    paged: list[str] = []
    token = ""
    while True:
        page = await world.search.search(CAT, "annual leave", "c1", "", None, 1, token)
        paged += [h.question.id for h in page.items]
        token = page.next_token
        if not token:
            break
    assert paged == [h.question.id for h in found.items]


async def test_edits_and_deletions_reach_search(world: World) -> None:
    in_title = await ask(world, "Booking annual leave")
    by_tag = await ask(world, "Carry-over of days", "", ("leave",), by="bob")
    await world.questions.edit(
        BOB, by_tag.id, Text("Pension contributions", "", ["pension"]), ["title", "tags"]
    )
    await world.questions.delete(ANN, in_title.id, "")
    assert (await world.search.search(CAT, "annual leave", "c1", "", None, 10, "")).items == []
    pension = await world.search.search(CAT, "pensions", "c1", "", None, 10, "")
    assert [h.question.id for h in pension.items] == [by_tag.id]


async def test_a_query_of_stop_words_only_is_invalid(world: World) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await world.search.search(ANN, "how do I?", "c1", "", None, 10, "")
    assert [v.field for v in raised.value.violations] == ["query"]


async def test_search_looks_in_the_callers_communities_and_hides_hidden_ones(world: World) -> None:
    here = await ask(world, "Laptop setup guide", by="bob")
    there = await ask(world, "Laptop for graduates", community="c2")
    secret = await ask(world, "Laptop budget", by="cat", community="secret")
    found = await world.search.search(ANN, "laptop", "", "", None, 10, "")
    assert {h.question.id for h in found.items} == {here.id, there.id}
    assert secret.id in {
        h.question.id for h in (await world.search.search(CAT, "laptop", "", "", None, 10, "")).items
    }
    with pytest.raises(NotFound):
        await world.search.search(ANN, "laptop", "secret", "", None, 10, "")
    assert (await world.search.search(OUT, "laptop", "", "", None, 10, "")).items == []


async def test_search_posts_covers_every_kind_and_resources(world: World) -> None:
    question = await ask(world, "Onboarding checklist for laptops")
    world.directory.add_member("c1", "mod", Role.MODERATOR)
    notice = await world.questions.create_post(
        who("mod"), "c1", "announcement", "Laptop refresh", "Soon", [], ""
    )
    resource, _ = await world.resources.share_resource(
        BOB, "c1", "https://example.com/laptops", "Laptop buying guide", "", "article", [], ""
    )
    every = await world.search.search_posts(CAT, "laptop", "c1", "", "", None, 10, "")
    assert {h.id for h in every.items} == {question.id, notice.id, resource.id}
    only = await world.search.search_posts(CAT, "laptop", "c1", "resource", "", None, 10, "")
    assert [(h.id, h.post) for h in only.items] == [(resource.id, None)]
    announcements = await world.search.search_posts(CAT, "laptop", "c1", "announcement", "", None, 10, "")
    assert [h.id for h in announcements.items] == [notice.id]
    with pytest.raises(InvalidArgument) as kind:
        await world.search.search_posts(CAT, "laptop", "c1", "resource", "", True, 10, "")
    assert [v.field for v in kind.value.violations] == ["answered"]


async def test_similar_questions_for_a_draft_title(world: World) -> None:
    leave = await ask(world, "How do I book annual leave?")
    await ask(world, "Booking a meeting room", by="bob")
    await ask(world, "Parking at the office", by="bob")
    similar = await world.search.similar(CAT, "c1", "booking leave for August", 2)
    assert [h.question.title for h in similar] == [leave.title, "Booking a meeting room"]
    assert similar[0].relevance == 4
    with pytest.raises(InvalidArgument) as limit:
        await world.search.similar(CAT, "c1", "booking leave", -1)
    assert [v.field for v in limit.value.violations] == ["limit"]


# --- meaning -----------------------------------------------------------------------------------------


async def test_a_question_meaning_the_same_gets_the_earlier_one_suggested() -> None:
    world = _world(embedder=TermEmbedder())
    first = await ask(world, "Mileage claims for car travel", "How are they paid?")
    other = await ask(world, "Canteen opening hours", "Weekends?", community="c2")  # another community
    asked = await world.questions.ask_question(
        BOB, "c1", "Car travel mileage claims", "How are they paid?", [], "r1"
    )
    assert [h.question.id for h in asked.similar] == [first.id]
    assert asked.similar[0].similarity > 0.99
    assert (asked.similar[0].relevance, asked.similar[0].matched_terms) == (0, [])
    again = await world.questions.ask_question(
        BOB, "c1", "Car travel mileage claims", "How are they paid?", [], "r1"
    )
    assert again.question.id == asked.question.id
    assert [h.question.id for h in again.similar] == [first.id]
    assert other.id not in {h.question.id for h in asked.similar}

    # the unanswered queue shows the later question meaning the same as the earlier one
    world.clock.now = T0 + timedelta(hours=3)
    items, _ = await world.unanswered.unanswered(CHAMP, "c1", 60, 10, "")
    assert {i.question.id: [h.question.id for h in i.same_meaning] for i in items} == {
        first.id: [],
        asked.question.id: [first.id],
    }


async def test_hidden_or_deleted_questions_are_not_suggested_by_meaning() -> None:
    world = _world(embedder=TermEmbedder())
    first = await ask(world, "Mileage claims for car travel", "How are they paid?")
    await world.questions.delete(ANN, first.id, "")
    asked = await world.questions.ask_question(
        BOB, "c1", "Car travel mileage claims", "How are they paid?", [], ""
    )
    assert asked.similar == []


async def test_without_meanings_the_titles_terms_suggest_answered_questions(world: World) -> None:
    answered = await ask(world, "Booking annual leave online", "Where?")
    await world.questions.answer(CAT, answered.id, "The HR portal.", "")
    asked = await world.questions.ask_question(BOB, "c1", "Annual leave booking rules", "Carry over?", [], "")
    assert [(h.question.id, h.similarity) for h in asked.similar] == [(answered.id, 0.0)]
    assert asked.similar[0].relevance > 0

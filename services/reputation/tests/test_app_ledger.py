"""The ledger's handlers on in-memory ports: what each content event earns or takes back, once however
often it is delivered, under the daily caps and the communities' rules, and the boards they feed."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import pytest
from services.reputation.tests.app_world import C1, C2, SERVICE, World, meta, who
from services.reputation.tests.memory import T0

from guild.events.v1 import reputation_events_pb2 as rep_events
from guild_reputation.app.boards import LiveBoards
from guild_reputation.app.boards_handlers import PointsFollower
from guild_reputation.app.ledger import NotYetKnown
from guild_reputation.domain import integration_events as ev
from guild_reputation.domain.leaderboard import Leaderboards, Standing
from guild_reputation.domain.periods import GLOBAL, Calendar, PeriodKind
from guild_reputation.domain.rules import RuleSetting


@pytest.fixture
def world() -> World:
    return World()


def rules_of(world: World, member: str) -> list[tuple[str, int]]:
    return sorted((e.rule.value, e.amount) for e in world.ledger.entries.values() if e.member_id == member)


def accepted(
    answer: str = "a1", author: str = "bob", question_author: str = "ann", event_id: str = ""
) -> ev.AnswerAccepted:
    return ev.AnswerAccepted(meta(event_id), answer, "q1", C1, author, question_author, "Title", ())


def removed(post: str, author: str = "bob", *, by_moderator: bool = True) -> ev.PostRemoved:
    return ev.PostRemoved(meta(), post, C1, author, by_moderator)


# Default points, ranks, redelivery


async def test_default_points_and_ranks(world: World) -> None:
    await world.ask("q1", "ann")
    await world.answer("a1", "q1", "bob", "ann")
    await world.handle(accepted())
    assert world.ledger.points("bob", C1) == 20
    assert world.ledger.points("ann", C1) == 2
    top = await world.boards.top(who("cat"), C1, 0)
    assert [(s.member_id, s.points, s.rank) for s in top.standings] == [("bob", 20, 1), ("ann", 2, 2)]
    assert top.total_members == 2


async def test_a_redelivered_event_counts_once(world: World) -> None:
    await world.ask("q1", "ann")
    event = accepted(event_id="acc-1")
    for _ in range(3):
        await world.handle(event)
    await world.ask("q9", "bob")
    assert world.ledger.points("bob") == 17
    assert rules_of(world, "bob") == [("answer_accepted", 15), ("question_asked", 2)]
    assert len(world.ledger.events) == 3


async def test_concurrent_deliveries_of_one_event_count_once(world: World) -> None:
    await world.ask("q1", "ann")
    m = meta("v-1")
    vote = ev.VoteChanged(m, "answer", "a1", "q1", C1, "cat", "bob", 0, 1, 1, ())
    await asyncio.gather(*(world.handle(vote) for _ in range(5)))
    assert world.ledger.points("bob") == 10
    assert len(world.ledger.events) == 2  # the question's entry and the one upvote


async def test_each_entry_releases_its_points_changed_event(world: World) -> None:
    await world.ask("q1", "ann", tags=("Python",), event_id="e-q")
    [envelope] = world.ledger.events
    assert envelope.type == "guild.reputation.points_changed.v1"
    payload = rep_events.PointsChanged.FromString(envelope.data)
    assert (payload.entry_id, payload.member_id, payload.amount, payload.rule) == (
        "e-q:question_asked",
        "ann",
        2,
        "question_asked",
    )
    assert list(payload.tags) == ["python"]
    assert envelope.region == "emea"


# Answers


async def test_unaccepting_takes_back_what_the_acceptance_earned(world: World) -> None:
    await world.ask("q1", "ann")
    await world.handle(accepted())
    await world.rules.set_overrides(C1, {"answer_accepted": RuleSetting(40, 0)}, "olivia")
    unaccept = ev.AnswerUnaccepted(meta(), "a1", C1, "bob")
    await world.handle(unaccept)
    await world.handle(unaccept)
    assert world.ledger.points("bob") == 0
    assert rules_of(world, "bob") == [("answer_accepted", 15), ("answer_accepted_reversed", -15)]
    # A second unaccept (another event) finds nothing left to take back.
    await world.handle(ev.AnswerUnaccepted(meta(), "a1", C1, "bob"))
    assert len(rules_of(world, "bob")) == 2


async def test_self_answers_and_self_acceptances_earn_nothing(world: World) -> None:
    await world.ask("q2", "cat")
    await world.answer("a2", "q2", "cat", "cat")
    await world.handle(accepted("a2", "cat", "cat"))
    assert rules_of(world, "cat") == [("question_asked", 2)]


async def test_an_answer_to_an_unknown_question_waits_then_goes_without_tags() -> None:
    world = World(tags_wait=timedelta(seconds=2))
    m = meta("ans-1")
    answer = ev.AnswerPosted(m, "a1", "q1", C1, "bob", "ann", ())
    with pytest.raises(NotYetKnown):
        await world.handle(answer)
    world.clock.advance(timedelta(seconds=1))
    with pytest.raises(NotYetKnown):
        await world.handle(answer)
    world.clock.advance(timedelta(seconds=1))
    await world.handle(answer)
    assert rules_of(world, "bob") == [("answer_posted", 5)]
    assert world.ledger.entries["ans-1:answer_posted"].tags == ()


async def test_an_answer_takes_its_questions_tags(world: World) -> None:
    await world.ask("q1", "ann", tags=("Python", "go"))
    await world.answer("a1", "q1", "bob", "ann", event_id="ans")
    assert world.ledger.entries["ans:answer_posted"].tags == ("python", "go")
    await world.vote("cat", 0, 1, event_id="up")
    assert world.ledger.entries["up:upvote_received"].tags == ("python", "go")
    page = await world.tag_boards.top(SERVICE, C1, "Python", 10, "")
    assert [(s.member_id, s.points, s.rank) for s in page.items] == [("bob", 15, 1), ("ann", 2, 2)]


async def test_an_answer_carrying_its_questions_tags_does_not_wait(world: World) -> None:
    m = meta("ans")
    await world.handle(ev.AnswerPosted(m, "a1", "q1", C1, "bob", "ann", ("Rust",)))
    assert world.ledger.entries["ans:answer_posted"].tags == ("rust",)


# Votes


async def test_upvotes_earn_once_per_event_and_retractions_take_back(world: World) -> None:
    await world.ask("q1", "ann")
    up = await world.vote("ann", 0, 1)
    await world.vote("cat", 0, 1)
    await world.vote("ann", 0, 1, event_id=up.id)  # redelivered
    await world.vote("bob", 0, 1)  # own post: nothing
    await world.vote("dan", 0, -1)  # downvote: nothing
    assert world.ledger.points("bob") == 20
    await world.vote("ann", 1, -1)  # ann's upvote turns down
    assert world.ledger.points("bob") == 10
    await world.vote("ann", -1, 1)  # and up again
    assert world.ledger.points("bob") == 20
    assert sorted(r for r, _ in rules_of(world, "bob")) == ["upvote_received"] * 3 + ["upvote_retracted"]


async def test_a_retraction_without_an_upvote_takes_nothing(world: World) -> None:
    await world.ask("q1", "ann")
    await world.vote("ann", 1, 0)
    assert rules_of(world, "bob") == []


async def test_the_daily_cap_cuts_upvotes_and_retractions_take_back_only_what_was_earned() -> None:
    world = World()
    await world.rules.set_overrides(C1, {"upvote_received": RuleSetting(10, 25)}, "olivia")
    await world.ask("q1", "ann")
    voters = ("v1", "v2", "v3", "v4")
    votes = [await world.vote(v, 0, 1) for v in voters]
    for voter, vote in zip(voters, votes, strict=True):
        await world.vote(voter, 0, 1, event_id=vote.id)  # redelivered: what they got the first time
    assert world.ledger.points("bob") == 25
    amounts = [
        (e.amount, e.reason) for e in world.ledger.entries.values() if e.rule.value == "upvote_received"
    ]
    assert amounts == [(10, ""), (10, ""), (5, "capped"), (0, "capped")]
    await world.vote("v4", 1, 0)
    await world.vote("v3", 1, 0)
    assert world.ledger.points("bob") == 20
    # The next day the room is back.
    await world.vote("v5", 0, 1, time=T0 + timedelta(days=1))
    assert world.ledger.points("bob") == 30


async def test_concurrent_votes_on_one_post_count_each_voter_once(world: World) -> None:
    await world.ask("q1", "ann")
    await asyncio.gather(*(world.vote(f"v{i}", 0, 1) for i in range(8)))
    await asyncio.gather(*(world.vote(f"v{i}", 1, 0) for i in range(0, 8, 2)))
    assert world.ledger.points("bob") == 40
    retracted = [e for e in world.ledger.entries.values() if e.rule.value == "upvote_retracted"]
    assert sorted(e.actor_id for e in retracted) == ["v0", "v2", "v4", "v6"]
    assert all(e.amount == -10 for e in retracted)


# Removals


async def test_a_moderators_removal_reverses_what_the_post_earned_once(world: World) -> None:
    await world.ask("q1", "bob")
    await world.ask("q2", "bob")
    await world.vote("ann", 0, 1, target="q1", kind="question")
    assert world.ledger.points("bob") == 14
    await world.handle(removed("q1", by_moderator=False))  # by the author: points stay
    assert world.ledger.points("bob") == 14
    await world.handle(removed("q1"))
    assert world.ledger.points("bob") == 2
    # Later votes on the removed post earn nothing, and a second removal takes nothing more.
    await world.vote("cat", 0, 1, target="q1", kind="question")
    await world.handle(removed("q1"))
    await world.ask("q3", "bob")
    assert world.ledger.points("bob") == 4
    assert [r for r, _ in rules_of(world, "bob")].count("post_removed") == 1


async def after(yields: int, coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` once the other tasks had ``yields`` turns."""
    for _ in range(yields):
        await asyncio.sleep(0)
    await coroutine


@pytest.mark.parametrize("delay", range(8))
async def test_a_removal_and_votes_at_once_leave_nothing_earned_on_the_post(delay: int) -> None:
    """Whichever step of the votes' decisions the removal lands between, nothing stays earned."""
    world = World()
    await world.ask("q1", "bob")
    await asyncio.gather(
        after(delay, world.handle(removed("q1"))),
        *(world.vote(f"v{i}", 0, 1, target="q1", kind="question") for i in range(5)),
    )
    assert world.ledger.points("bob") == 0
    upvotes = [e for e in world.ledger.entries.values() if e.rule.value == "upvote_received"]
    removal = next(e for e in world.ledger.entries.values() if e.rule.value == "post_removed")
    assert removal.amount == -2 - 10 * len(upvotes)


@pytest.mark.parametrize("delay", range(8))
async def test_retractions_racing_a_removal_take_back_nothing_twice(delay: int) -> None:
    world = World()
    await world.ask("q1", "bob")
    for i in range(3):
        await world.vote(f"v{i}", 0, 1, target="q1", kind="question")
    await asyncio.gather(
        after(delay, world.handle(removed("q1"))),
        *(world.vote(f"v{i}", 1, 0, target="q1", kind="question") for i in range(3)),
    )
    assert world.ledger.points("bob") == 0


async def test_unaccepting_a_removed_answer_takes_nothing_more(world: World) -> None:
    await world.ask("q1", "ann")
    await world.handle(accepted())
    await world.handle(removed("a1"))
    await world.handle(ev.AnswerUnaccepted(meta(), "a1", C1, "bob"))
    assert world.ledger.points("bob") == 0
    assert [r for r, _ in rules_of(world, "bob")] == ["answer_accepted", "post_removed"]


# Resources, ratings, collections, surveys


async def test_sharing_earns_once_and_a_removal_takes_it_back(world: World) -> None:
    share = ev.ResourceShared(meta("sh"), "r1", C1, "bob", ("Docs",))
    await world.handle(share)
    await world.handle(share)
    assert world.ledger.points("bob") == 5
    assert world.ledger.entries["sh:resource_shared"].tags == ("docs",)
    await world.handle(removed("r1"))
    assert world.ledger.points("bob") == 0
    # Shared without a community or author: only its tags are kept.
    await world.handle(ev.ResourceShared(meta(), "r2", "", "", ("ops",)))
    assert await world.post_tags.tags_of("r2") == ["ops"]


def rated(rater: str, stars: int, seconds: int, *, author: str = "bob") -> ev.ItemRated:
    return ev.ItemRated(
        meta(), "r1", "resource", C1, author, rater, stars, 4.0, 1, T0 + timedelta(seconds=seconds)
    )


async def test_good_ratings_by_others_earn_once_per_rater_following_the_current_stars(world: World) -> None:
    await world.handle(rated("ann", 5, 1))
    await world.handle(rated("ann", 4, 2))  # still good: nothing more
    await world.handle(rated("bob", 5, 3))  # own item: nothing
    await world.handle(rated("cat", 3, 4))  # not good: nothing
    assert world.ledger.points("bob") == 3
    await world.handle(rated("ann", 2, 5))
    assert world.ledger.points("bob") == 0
    await world.handle(rated("ann", 5, 1))  # older than the stored rating: the current stars stay 2
    assert world.ledger.points("bob") == 0
    await world.handle(rated("ann", 5, 6))
    assert world.ledger.points("bob") == 3
    assert [r for r, _ in rules_of(world, "bob")] == ["resource_rated"] * 2 + ["resource_rated_reversed"]


async def test_followers_of_a_collection_earn_its_curator_points_once_each(world: World) -> None:
    for follower in ("ann", "cat", "ann", "bob"):
        await world.handle(ev.CollectionFollowed(meta(), "col1", C1, "bob", follower))
    assert world.ledger.points("bob") == 6


async def test_answering_a_survey_earns_once_per_survey_and_member(world: World) -> None:
    for member, survey in (("ann", "s1"), ("ann", "s1"), ("ann", "s2"), ("bob", "s1")):
        await world.handle(ev.SurveyResponseSubmitted(meta(), survey, C1, member))
    assert world.ledger.points("ann") == 4
    assert world.ledger.points("bob") == 2


async def test_owner_overrides_apply_to_later_events(world: World) -> None:
    await world.rules.set_overrides(C1, {"question_asked": RuleSetting(7, 14)}, "olivia")
    for i in range(3):
        await world.ask(f"q{i}", "ann")
    await world.ask("q9", "ann", community=C2)
    assert world.ledger.points("ann", C1) == 14  # capped at 14 a day
    assert world.ledger.points("ann", C2) == 2
    assert world.ledger.points("ann", GLOBAL) == 16


# Boards


async def test_boards_per_period(world: World) -> None:
    await world.ask("q1", "ann", time=T0 - timedelta(days=40))
    await world.ask("q2", "bob")
    await world.ask("q3", "bob", community=C2)
    caller = who("cat")
    month = await world.boards.top(caller, C1, 10, period=PeriodKind.MONTH)
    assert [(s.member_id, s.points) for s in month.standings] == [("bob", 2)]
    every = await world.boards.top(caller, C1, 10)
    assert [(s.member_id, s.points) for s in every.standings] == [("ann", 2), ("bob", 2)]
    overall = await world.boards.top(caller, "", 10, all_communities=True)
    assert [(s.member_id, s.points) for s in overall.standings] == [("bob", 4), ("ann", 2)]


async def test_a_follower_applies_another_replicas_entries(world: World) -> None:
    """A second replica on the same ledger, with its own boards, follows the entries' events."""
    live = LiveBoards(Leaderboards(), Calendar(), clock=world.clock)
    follower = PointsFollower(world.ledger, live)
    await world.ask("q1", "ann", event_id="e1")
    followed = ev.PointsChanged(meta(), "e1:question_asked", C1, "ann", T0)
    await follower.points_changed(followed)
    await follower.points_changed(followed)
    board = live.boards.find(C1, "all")
    assert board is not None
    assert board.standing("ann") == Standing("ann", 2, 1)

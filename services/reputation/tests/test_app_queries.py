"""Boards, standings, tag boards and points rules on in-memory ports: validation, who may read or set
what (hidden communities answered as unknown ones), and the community read models they rely on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from services.reputation.tests.app_world import C1, C2, SERVICE, World, meta, who
from services.reputation.tests.memory import T0

from guild_common.errors import InvalidArgument, NotFound, PermissionDenied
from guild_reputation.domain import integration_events as ev
from guild_reputation.domain.leaderboard import Standing
from guild_reputation.domain.periods import PeriodKind
from guild_reputation.domain.rules import Rule, RuleSetting


@pytest.fixture
def world() -> World:
    return World()


def fields(error: InvalidArgument) -> set[str]:
    return {v.field for v in error.violations}


async def hidden_world() -> World:
    """``C1`` hidden, with olivia its owner and points in it; ``C2`` open."""
    world = World()
    await world.create_community(C1, "hidden")
    await world.create_community(C2, "open")
    await world.join("olivia", C1, "owner")
    await world.ask("q1", "olivia", C1)
    await world.ask("q2", "cat", C2)
    await world.ask("q3", "olivia", C2)
    return world


# Boards and standings


async def test_boards_validate_their_requests(world: World) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await world.boards.top(who("ann"), C1, 1000)
    assert fields(caught.value) == {"top"}
    with pytest.raises(InvalidArgument) as caught:
        await world.boards.top(who("ann"), "", 10)
    assert fields(caught.value) == {"community_id"}
    with pytest.raises(InvalidArgument) as caught:
        await world.boards.standing(who("ann"), "", "bob")
    assert fields(caught.value) == {"community_id"}


async def test_a_community_without_points_has_an_empty_board(world: World) -> None:
    view = await world.boards.top(who("ann"), "c-new", 10)
    assert (view.standings, view.total_members) == ([], 0)
    standing = await world.boards.standing(who("ann"), "c-new", "")
    assert standing.standing == Standing("ann", 0, 0)


async def test_standings_name_rank_neighbours_and_percentile(world: World) -> None:
    await world.ask("q1", "ann")
    for i, member in enumerate(("bob", "cat")):
        await world.answer(f"a{i}", "q1", member, "ann")
    await world.vote("x", 0, 1, target="a1", author="cat")
    view = await world.boards.standing(who("zed"), C1, "bob")
    assert view.standing == Standing("bob", 5, 2)
    assert view.above == Standing("cat", 15, 1)
    assert view.below == Standing("ann", 2, 3)
    assert view.total_members == 3
    assert 0 < view.percentile < 100
    mine = await world.boards.standing(who("cat"), C1, "")
    assert mine.standing == Standing("cat", 15, 1)
    nobody = await world.boards.standing(who("ann"), C1, "zed")
    assert (nobody.standing.points, nobody.standing.rank, nobody.total_members) == (0, 0, 3)


async def test_top_n_limits_the_board_and_defaults_to_ten(world: World) -> None:
    for i in range(12):
        await world.ask(f"q{i}", f"m{i:02d}")
    assert len((await world.boards.top(who("ann"), C1, 0)).standings) == 10
    three = await world.boards.top(who("ann"), C1, 3)
    assert [s.member_id for s in three.standings] == ["m00", "m01", "m02"]  # ties by member id
    assert three.total_members == 12


async def test_weekly_and_monthly_boards_hold_the_current_period_only(world: World) -> None:
    await world.ask("q1", "ann", time=T0 - timedelta(days=8))
    await world.ask("q2", "bob")
    week = await world.boards.top(who("x"), C1, 10, period=PeriodKind.WEEK)
    assert [s.member_id for s in week.standings] == ["bob"]
    month = await world.boards.top(who("x"), C1, 10, period=PeriodKind.MONTH)
    assert [s.member_id for s in month.standings] == ["bob"]  # T0 is 5 January: the 28 December is out
    standing = await world.boards.standing(who("x"), "", "bob", all_communities=True, period=PeriodKind.WEEK)
    assert standing.standing == Standing("bob", 2, 1)


async def test_hidden_boards_are_not_found_to_outsiders_and_left_out_of_all_communities() -> None:
    world = await hidden_world()
    for read in (
        world.boards.top(who("stranger"), C1, 10),
        world.boards.standing(who("stranger"), C1, "olivia"),
        world.points_rules.effective(who("stranger"), C1),
    ):
        with pytest.raises(NotFound) as caught:
            await read
        assert caught.value.reason == "COMMUNITY_NOT_FOUND"
        assert str(caught.value) == f"no community {C1} is known"
    board = await world.boards.top(who("olivia"), C1, 10)
    assert [s.member_id for s in board.standings] == ["olivia"]
    assert (await world.boards.top(SERVICE, C1, 10)).total_members == 1
    everywhere = await world.boards.top(who("stranger"), "", 10, all_communities=True)
    assert {s.member_id: s.points for s in everywhere.standings} == {"cat": 2, "olivia": 2}
    standing = await world.boards.standing(who("olivia"), "", "olivia", all_communities=True)
    assert (standing.standing.points, standing.total_members) == (2, 2)


async def test_a_community_made_visible_again_shows_on_every_board() -> None:
    world = await hidden_world()
    await world.handle(ev.CommunityUpdated(meta(time=T0 + timedelta(minutes=1)), C1, "open"))
    assert [s.member_id for s in (await world.boards.top(who("stranger"), C1, 10)).standings] == ["olivia"]
    everywhere = await world.boards.top(who("stranger"), "", 10, all_communities=True)
    assert {s.member_id: s.points for s in everywhere.standings} == {"cat": 2, "olivia": 4}


async def test_a_member_who_left_a_hidden_community_no_longer_sees_it() -> None:
    world = await hidden_world()
    await world.join("max", C1, time=T0 + timedelta(seconds=1))
    assert (await world.boards.top(who("max"), C1, 10)).total_members == 1
    await world.handle(ev.MemberLeft(meta(time=T0 + timedelta(seconds=2)), C1, "max"))
    with pytest.raises(NotFound):
        await world.boards.top(who("max"), C1, 10)


# Points rules


async def test_the_rules_in_force_are_the_defaults_until_an_owner_overrides_them(world: World) -> None:
    rules = await world.points_rules.effective(who("ann"), C1)
    assert rules[Rule.QUESTION_ASKED] == RuleSetting(2, 0)
    assert rules[Rule.UPVOTE_RECEIVED] == RuleSetting(10, 200)
    with pytest.raises(InvalidArgument) as caught:
        await world.points_rules.effective(who("ann"), "")
    assert fields(caught.value) == {"community_id"}


async def test_owners_set_points_rules_others_may_not(world: World) -> None:
    await world.join("olivia", C1, "owner")
    await world.join("max", C1, "moderator")
    rules = await world.points_rules.set_rules(who("olivia"), C1, [("question_asked", 7, 14)])
    assert rules[Rule.QUESTION_ASKED] == RuleSetting(7, 14)
    assert rules[Rule.ANSWER_POSTED] == RuleSetting(5, 0)
    for caller in ("max", "stranger"):
        with pytest.raises(PermissionDenied) as denied:
            await world.points_rules.set_rules(who(caller), C1, [("question_asked", 1, 0)])
        assert denied.value.reason == "NOT_COMMUNITY_OWNER"
    assert (await world.points_rules.effective(who("max"), C1))[Rule.QUESTION_ASKED] == RuleSetting(7, 14)
    assert world.rules.updated_by == {C1: "olivia"}
    # Another community keeps the defaults.
    assert (await world.points_rules.effective(who("max"), C2))[Rule.QUESTION_ASKED] == RuleSetting(2, 0)


async def test_points_rules_are_validated_before_the_caller_is_checked(world: World) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await world.points_rules.set_rules(
            who("stranger"), C1, [("question_asked", 5000, 0), ("made_up", 1, 0), ("question_asked", 1, -1)]
        )
    assert fields(caught.value) == {
        "rules[0].points",
        "rules[1].rule",
        "rules[2].rule",
        "rules[2].daily_cap",
    }
    with pytest.raises(InvalidArgument) as caught:
        await world.points_rules.set_rules(who("olivia"), C1, [])
    assert fields(caught.value) == {"rules"}
    with pytest.raises(InvalidArgument) as caught:
        await world.points_rules.set_rules(who("olivia"), "", [("question_asked", 1, 0)])
    assert fields(caught.value) == {"community_id"}


async def test_an_owner_demoted_may_no_longer_set_rules(world: World) -> None:
    await world.join("olivia", C1, "owner")
    await world.handle(
        ev.RoleRevoked(meta(time=T0 + timedelta(seconds=1)), C1, "olivia", "owner", "member", "emea", "sales")
    )
    with pytest.raises(PermissionDenied):
        await world.points_rules.set_rules(who("olivia"), C1, [("question_asked", 1, 0)])
    # A late, older grant does not undo the revocation.
    await world.handle(ev.RoleGranted(meta(time=T0), C1, "olivia", "owner", "member", "emea", "sales"))
    assert await world.roles.role(C1, "olivia") == "member"


# Tag boards


async def test_tag_boards_validate_and_admit_members_and_services_only(world: World) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await world.tag_boards.top(who("ann"), "", " ", 10, "")
    assert fields(caught.value) == {"community_id", "tag"}
    with pytest.raises(NotFound):
        await world.tag_boards.top(who("ann"), "c-never", "python", 10, "")  # never heard of
    await world.join("ann", C1)
    await world.ask("q1", "bob", tags=("python",))
    with pytest.raises(PermissionDenied) as denied:
        await world.tag_boards.top(who("stranger"), C1, "python", 10, "")
    assert denied.value.reason == "NOT_COMMUNITY_MEMBER"
    page = await world.tag_boards.top(who("ann"), C1, "Python", 10, "")
    assert page.items == [Standing("bob", 2, 1)]
    assert (await world.tag_boards.top(SERVICE, C1, "python", 10, "")).items == [Standing("bob", 2, 1)]


async def test_tag_boards_page_with_running_ranks_without_gaps_or_repeats(world: World) -> None:
    for i in range(7):
        await world.ask(f"q{i}", f"m{i}", tags=("python",))
        for v in range(i):
            await world.vote(f"v{v}", 0, 1, target=f"q{i}", author=f"m{i}", kind="question")
    seen: list[Standing] = []
    token = ""
    while True:
        page = await world.tag_boards.top(SERVICE, C1, "python", 3, token)
        seen += page.items
        token = page.next_token
        if not token:
            break
    assert [s.member_id for s in seen] == [f"m{i}" for i in range(6, -1, -1)]
    assert [s.rank for s in seen] == list(range(1, 8))
    assert [s.points for s in seen] == [2 + 10 * i for i in range(6, -1, -1)]


async def test_a_tag_board_token_edited_by_hand_is_invalid(world: World) -> None:
    await world.ask("q1", "bob", tags=("python",))
    with pytest.raises(InvalidArgument):
        await world.tag_boards.top(SERVICE, C1, "python", 10, "not-a-token")


async def test_reversals_take_points_off_the_tags_they_were_earned_on(world: World) -> None:
    await world.ask("q1", "ann", tags=("python", "go"))
    await world.answer("a1", "q1", "bob", "ann")
    await world.vote("cat", 0, 1)
    await world.handle(ev.PostRemoved(meta(), "a1", C1, "bob", True))
    for tag in ("python", "go"):
        page = await world.tag_boards.top(SERVICE, C1, tag, 10, "")
        assert page.items == [Standing("ann", 2, 1)], tag

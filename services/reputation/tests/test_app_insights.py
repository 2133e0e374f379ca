"""Insights, goal progress and pilot comparisons on in-memory ports: figures kept from events (once
however often delivered), by community, programme and region, and who may read them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from services.reputation.tests.app_world import C1, C2, SERVICE, World, meta, who

from guild_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from guild_reputation.domain import integration_events as ev
from guild_reputation.domain.comparison import newcombe
from guild_reputation.domain.insights import GoalMetric, PostKind, Scope
from guild_reputation.domain.pilot import ComparisonMetric, PilotComparison

DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
# A Wednesday; its ISO week, and a moment after that week is over.
ANCHOR = datetime(2026, 1, 7, tzinfo=UTC)
WEEK = "2026-W02"
LATER = ANCHOR + 10 * DAY
TAGS = ("python",)


def week_of_activity() -> list[Any]:
    """A Wednesday in ``C1`` (and one question in ``C2``) of region emea, programme sales."""

    def joined(member: str, when: datetime) -> ev.MemberJoined:
        return ev.MemberJoined(meta(time=when), C1, member, "member", "emea", "sales")

    def asked(question: str, author: str, when: datetime, community: str = C1) -> ev.QuestionAsked:
        return ev.QuestionAsked(meta(time=when), question, community, author, TAGS)

    def answer(
        aid: str, question: str, author: str, asker: str, when: datetime, c: str = C1
    ) -> ev.AnswerPosted:
        return ev.AnswerPosted(meta(time=when), aid, question, c, author, asker, TAGS)

    return [
        joined("dan", ANCHOR - 40 * DAY),
        joined("ann", ANCHOR - 5 * DAY),
        joined("bob", ANCHOR - 5 * DAY),
        joined("cat", ANCHOR - 3 * DAY),
        joined("eve", ANCHOR - 2 * DAY),
        ev.MemberLeft(meta(time=ANCHOR + DAY), C1, "cat"),
        # q1 answered in an hour, q2 in 30 hours, q3 only by its asker.
        asked("q1", "ann", ANCHOR + HOUR),
        answer("a1", "q1", "bob", "ann", ANCHOR + 2 * HOUR),
        asked("q2", "ann", ANCHOR + 3 * HOUR),
        answer("a2", "q2", "dan", "ann", ANCHOR + 33 * HOUR),
        asked("q3", "bob", ANCHOR + 4 * HOUR),
        answer("a3", "q3", "bob", "bob", ANCHOR + 5 * HOUR),
        ev.CommentPosted(meta(time=ANCHOR + 6 * HOUR), "m1", "q1", "q1", C1, "dan"),
        ev.ResourceShared(meta(time=ANCHOR + 7 * HOUR), "r1", C1, "ann", ()),
        ev.VoteChanged(meta(time=ANCHOR + 8 * HOUR), "answer", "a1", "q1", C1, "eve", "bob", 0, 1, 1, TAGS),
        # Another community of the same programme and region.
        asked("q9", "fay", ANCHOR + HOUR, C2),
        answer("a9", "q9", "ann", "fay", ANCHOR + 2 * HOUR, C2),
    ]


async def active_world(events: Sequence[Any] | None = None) -> World:
    world = World()
    for event in events if events is not None else week_of_activity():
        await world.handle(event)
    return world


async def test_a_communitys_week() -> None:
    world = await active_world()
    c1 = await world.insight_queries.insights(SERVICE, Scope.COMMUNITY, C1, WEEK, LATER)
    assert c1.as_of == ANCHOR + 5 * DAY  # the week is over: taken at its end
    assert c1.week_start == ANCHOR - 2 * DAY
    assert c1.members == 4  # cat left
    assert (c1.active_7_days, c1.active_30_days) == (4, 4)  # eve voted
    assert c1.contributors == 3
    # ann: q1, q2, r1; bob: a1, q3, a3; dan: a2, m1.
    assert c1.top_contributors == [("ann", 3), ("bob", 3), ("dan", 2)]
    assert c1.posts == {PostKind.QUESTION: 3, PostKind.ANSWER: 3, PostKind.COMMENT: 1, PostKind.RESOURCE: 1}
    assert (c1.questions.asked, c1.questions.answered, c1.questions.answered_within_24h) == (3, 2, 1)
    assert c1.questions.median_seconds == (3600 + 30 * 3600) / 2
    assert (c1.new_starters, c1.new_starters_posted) == (3, 2)  # ann, bob and eve joined; ann and bob posted


async def test_every_event_delivered_again_counts_once() -> None:
    events = week_of_activity()
    once = await active_world(events)
    twice = await active_world([*events, *events])
    for scope, scope_id in ((Scope.COMMUNITY, C1), (Scope.PROGRAMME, "sales"), (Scope.REGION, "emea")):
        first = await once.insight_queries.insights(SERVICE, scope, scope_id, WEEK, LATER)
        second = await twice.insight_queries.insights(SERVICE, scope, scope_id, WEEK, LATER)
        assert first == second


async def test_programme_and_region_figures_span_communities_leaving_hidden_ones_out() -> None:
    world = await active_world()
    programme = await world.insight_queries.insights(who("x"), Scope.PROGRAMME, "sales", WEEK, LATER)
    assert (programme.members, programme.questions.asked, programme.questions.answered) == (4, 4, 3)
    assert programme.posts[PostKind.ANSWER] == 4
    assert programme.contributors == 4  # fay too
    region = await world.insight_queries.insights(who("x"), Scope.REGION, "emea", WEEK, LATER)
    assert (region.questions.asked, region.members, region.contributors) == (4, 4, 4)
    empty = await world.insight_queries.insights(who("x"), Scope.REGION, "apac", WEEK, LATER)
    assert (empty.members, empty.questions.asked, empty.questions.median_seconds) == (0, 0, None)
    await world.create_community(C2, "hidden")
    hidden = await world.insight_queries.insights(who("x"), Scope.PROGRAMME, "sales", WEEK, LATER)
    assert (hidden.questions.asked, hidden.contributors) == (3, 3)  # fay's question in C2 left out


async def test_this_week_so_far_counts_today() -> None:
    world = await active_world()
    now = datetime(2026, 1, 20, 15, tzinfo=UTC)
    await world.handle(
        ev.VoteChanged(meta(time=now - MINUTE), "answer", "a2", "q2", C1, "bob", "dan", 0, 1, 1, TAGS)
    )
    current = await world.insight_queries.insights(SERVICE, Scope.COMMUNITY, C1, "", now)
    assert (current.week, current.as_of) == ("2026-W04", now)
    assert (current.active_7_days, current.active_30_days, current.members) == (1, 4, 4)


async def test_only_members_and_services_read_a_communitys_insights() -> None:
    world = await active_world()
    assert (await world.insight_queries.insights(who("dan"), Scope.COMMUNITY, C1, WEEK, LATER)).members == 4
    for caller in ("cat", "stranger"):  # a former member; someone who never joined
        with pytest.raises(PermissionDenied) as denied:
            await world.insight_queries.insights(who(caller), Scope.COMMUNITY, C1, WEEK, LATER)
        assert denied.value.reason == "NOT_COMMUNITY_MEMBER"
    with pytest.raises(NotFound):
        await world.insight_queries.insights(SERVICE, Scope.COMMUNITY, "c-none", WEEK, LATER)
    await world.create_community(C1, "hidden")
    with pytest.raises(NotFound):
        await world.insight_queries.insights(who("stranger"), Scope.COMMUNITY, C1, WEEK, LATER)
    assert (await world.insight_queries.insights(who("dan"), Scope.COMMUNITY, C1, WEEK, LATER)).members == 4


async def test_insight_requests_are_validated() -> None:
    world = await active_world()
    with pytest.raises(InvalidArgument) as caught:
        await world.insight_queries.insights(who("ann"), Scope.COMMUNITY, C1, "W48", LATER)
    assert {v.field for v in caught.value.violations} == {"week"}
    with pytest.raises(InvalidArgument) as caught:
        await world.insight_queries.insights(who("ann"), None, "", WEEK, LATER)
    assert {v.field for v in caught.value.violations} == {"scope"}


# Goals


async def test_goal_progress_over_a_span() -> None:
    world = await active_world()
    since, until = ANCHOR - 10 * DAY, ANCHOR + 5 * DAY

    async def goal(metric: GoalMetric) -> tuple[float, int]:
        value = await world.insight_queries.goal_progress(SERVICE, C1, metric, since, until)
        assert (value.metric, value.since, value.until) == (metric, since, until)
        return value.value, value.sample_size

    assert await goal(GoalMetric.QUESTIONS_ANSWERED_WITHIN_24H_PCT) == (33.33, 3)
    assert await goal(GoalMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS) == (55_800, 2)
    assert await goal(GoalMetric.CONTRIBUTORS_PCT) == (75.0, 4)
    assert await goal(GoalMetric.WEEKLY_ACTIVE_MEMBERS_PCT) == (100.0, 4)
    assert await goal(GoalMetric.NEW_STARTERS_ASKED_WITHIN_30_DAYS_PCT) == (66.67, 3)  # eve did not ask


async def test_goal_requests_are_validated_and_checked() -> None:
    world = await active_world()
    progress = world.insight_queries.goal_progress
    assert (await progress(who("dan"), C1, GoalMetric.CONTRIBUTORS_PCT, None, LATER)).sample_size == 4
    with pytest.raises(InvalidArgument) as caught:
        await progress(SERVICE, "", None, LATER, ANCHOR)
    assert {v.field for v in caught.value.violations} == {"community_id", "metric", "since"}
    with pytest.raises(NotFound):
        await progress(SERVICE, "c-none", GoalMetric.CONTRIBUTORS_PCT, None, LATER)
    with pytest.raises(PermissionDenied):
        await progress(who("cat"), C1, GoalMetric.CONTRIBUTORS_PCT, None, LATER)


# Pilot comparisons

PILOT, CONTROL, ELSEWHERE = "c-pilot", "c-control", "c-else"
START = datetime(2026, 1, 5, tzinfo=UTC)
END = START + 7 * DAY


def by_metric(comparison: PilotComparison) -> dict[ComparisonMetric, Any]:
    return {m.metric: m.difference for m in comparison.metrics}


async def pilot_world() -> World:
    """20 pilot members (16 active), 20 in the control community (4 active), 10 listed people elsewhere."""
    world = World()
    await world.create_community(PILOT, "hidden", time=START - 30 * DAY)
    members = {
        PILOT: [f"p{i}" for i in range(20)],
        CONTROL: [f"c{i}" for i in range(20)],
        ELSEWHERE: [f"x{i}" for i in range(10)],
    }
    for community, people in members.items():
        for person in people:
            await world.join(person, community, time=START - 20 * DAY)

    async def comment(community: str, member: str, when: datetime) -> None:
        await world.handle(
            ev.CommentPosted(meta(time=when), f"m-{member}-{when}", "post", "", community, member)
        )

    async def question(
        community: str, asker: str, answerer: str, when: datetime, wait: timedelta | None
    ) -> None:
        qid = f"q-{community}-{asker}-{when.isoformat()}"
        await world.handle(ev.QuestionAsked(meta(time=when), qid, community, asker, TAGS))
        if wait is not None:
            await world.handle(
                ev.AnswerPosted(meta(time=when + wait), f"a-{qid}", qid, community, answerer, asker, TAGS)
            )

    pilot, control, listed = members[PILOT], members[CONTROL], members[ELSEWHERE]
    for i, member in enumerate(pilot[:16]):
        await comment(PILOT, member, START + DAY + i * MINUTE)
    for i, member in enumerate(control[:4]):
        await comment(CONTROL, member, START + DAY + i * MINUTE)
    await comment(CONTROL, control[10], END + DAY)  # outside the period
    for i in range(10):
        await question(PILOT, pilot[i], pilot[i + 1], START + 2 * DAY + i * MINUTE, (i + 1) * MINUTE)
        wait = timedelta(hours=10 + i) if i < 5 else None
        await question(CONTROL, control[i % 4], control[(i + 1) % 4], START + 2 * DAY + i * MINUTE, wait)
    for i, member in enumerate(listed[:8]):
        await question(ELSEWHERE, member, "mentor", START + 3 * DAY + i * MINUTE, (i + 1) * MINUTE)
    await comment(PILOT, listed[9], START + 3 * DAY)  # the pilot's activity: left out of the control
    return world


async def test_a_pilot_beside_a_control_community() -> None:
    world = await pilot_world()
    await world.handle(ev.PilotControlSet(meta(), PILOT, CONTROL, (), 1))
    compared = await world.pilots.compare(SERVICE, PILOT, START, END)
    assert (compared.control_community_id, compared.start, compared.end) == (CONTROL, START, END)
    metrics = by_metric(compared)
    participation = metrics[ComparisonMetric.PARTICIPATION_PCT]
    assert (participation.pilot, participation.control, participation.pilot_n, participation.control_n) == (
        80,
        20,
        20,
        20,
    )
    expected = newcombe(16, 20, 4, 20)
    assert participation.interval.low == pytest.approx(100 * expected.low)
    answered = metrics[ComparisonMetric.QUESTIONS_ANSWERED_PCT]
    assert (answered.pilot, answered.control, answered.pilot_n, answered.control_n) == (100, 50, 10, 10)
    median = metrics[ComparisonMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS]
    assert (median.pilot, median.control) == (330, 12 * 3600)
    assert (median.pilot_n, median.control_n) == (10, 5)
    # A member of the hidden pilot reads it; an outsider is answered as for no community.
    assert await world.pilots.compare(who("p0"), PILOT, START, END) == compared
    with pytest.raises(NotFound):
        await world.pilots.compare(who("stranger"), PILOT, START, END)


async def test_a_pilot_beside_a_list_of_people_and_late_versions_change_nothing() -> None:
    world = await pilot_world()
    await world.handle(ev.PilotControlSet(meta(), PILOT, "", tuple(f"x{i}" for i in range(10)), 2))
    await world.handle(ev.PilotControlSet(meta(), PILOT, CONTROL, (), 1))  # older, late
    compared = await world.pilots.compare(SERVICE, PILOT, START, END)
    assert (compared.control_member_count, compared.control_community_id) == (10, "")
    metrics = by_metric(compared)
    participation = metrics[ComparisonMetric.PARTICIPATION_PCT]
    assert (participation.pilot, participation.control, participation.control_n) == (80, 80, 10)
    assert participation.interval.low < 0 < participation.interval.high
    answered = metrics[ComparisonMetric.QUESTIONS_ANSWERED_PCT]
    assert (answered.control, answered.control_n) == (100, 8)
    assert metrics[ComparisonMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS].control == 270  # 4.5 minutes


async def test_bad_periods_and_a_pilot_without_control() -> None:
    world = World()
    await world.join("ann", "lonely")
    now = START
    for start, end in ((now, now - DAY), (now - 400 * DAY, now)):
        with pytest.raises(InvalidArgument):
            await world.pilots.compare(SERVICE, PILOT, start, end)
    with pytest.raises(FailedPrecondition) as missing:
        await world.pilots.compare(who("ann"), "lonely", START, END)
    assert missing.value.reason == "NO_PILOT_CONTROL"

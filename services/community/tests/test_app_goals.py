"""Goal and pilot-control use cases on in-memory ports, with reputation faked: setting goals, the report,
the control group and the comparison beside it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from guild_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unavailable
from guild_community.app.goals import COMPARED_SPAN, NewGoal
from guild_community.domain.authorization import ENROL_SCOPE
from guild_community.domain.communities import Community, Lifecycle, Visibility
from guild_community.domain.goals import GoalMetric, GoalStatus
from guild_community.domain.pilot import ComparisonMetric, MetricComparison, PilotComparison

from .memory import MemoryCommunityService, new_community, person, service_caller

OWNER = person("olivia")
HR = service_caller("hr-system", ENROL_SCOPE)
DAY = timedelta(days=1)
WAM = GoalMetric.WEEKLY_ACTIVE_MEMBERS_PCT
TTFA = GoalMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS
CONTROL_PEOPLE = ["c5", "c1", "c3", "c2", "c4", "c1"]


async def _pilot(svc: MemoryCommunityService, **fields: object) -> Community:
    options: dict[str, object] = {"lifecycle": Lifecycle.PILOT}
    options.update(fields)
    community = await new_community(svc, OWNER, "sales-pilot", **options)  # type: ignore[arg-type]
    await svc.membership.enrol_cohort(HR, community.id, ["ann"])
    return community


async def _goal(
    svc: MemoryCommunityService, community: Community, metric: GoalMetric, target: float, request_id: str = ""
) -> str:
    deadline = svc.clock.now + 30 * DAY
    goal = await svc.goals.create(OWNER, NewGoal(community.id, metric, target, deadline, request_id))
    return goal.id


# Goals


async def test_goals_are_set_by_owners_once_per_request_and_published(svc: MemoryCommunityService) -> None:
    pilot = await _pilot(svc)
    first = await _goal(svc, pilot, WAM, 60, request_id="wam")
    again = await _goal(svc, pilot, WAM, 75, request_id="wam")
    assert again == first
    [event] = svc.goal_store.events
    assert (event.goal.id, event.goal.target, event.goal.set_in_lifecycle) == (first, 60.0, Lifecycle.PILOT)
    assert (event.region, event.programme) == ("amer", "sales")
    with pytest.raises(PermissionDenied):
        await svc.goals.create(person("ann"), NewGoal(pilot.id, WAM, 50, svc.clock.now + DAY, ""))
    assert len(svc.goal_store.events) == 1


async def test_a_pilots_goals_stay_on_record_after_it_goes_live(svc: MemoryCommunityService) -> None:
    pilot = await _pilot(svc)
    ids = [await _goal(svc, pilot, WAM, 60), await _goal(svc, pilot, TTFA, 3600)]
    await svc.communities.change_lifecycle(OWNER, pilot.id, Lifecycle.LIVE)
    ids.append(await _goal(svc, pilot, GoalMetric.CONTRIBUTORS_PCT, 20))
    seen: list[str] = []
    token = ""
    while True:
        page = await svc.goals.list(person("ann"), pilot.id, 2, token)
        seen += [g.id for g in page.items]
        if not (token := page.next_token):
            break
    assert seen == ids
    listed = await svc.goals.list(person("ann"), pilot.id, 0, "")
    assert [g.set_in_lifecycle for g in listed.items] == [Lifecycle.PILOT, Lifecycle.PILOT, Lifecycle.LIVE]


async def test_bad_goals_are_refused_field_by_field(svc: MemoryCommunityService) -> None:
    pilot = await _pilot(svc)
    now = svc.clock.now
    cases = [
        (NewGoal(pilot.id, None, 50, now + DAY, ""), "metric"),
        (NewGoal(pilot.id, WAM, 0, now + DAY, ""), "target"),
        (NewGoal(pilot.id, WAM, 101, now + DAY, ""), "target"),
        (NewGoal(pilot.id, TTFA, 31 * 86_400, now + DAY, ""), "target"),
        (NewGoal(pilot.id, WAM, 50, None, ""), "deadline"),
        (NewGoal(pilot.id, WAM, 50, now - DAY, ""), "deadline"),
        (NewGoal(pilot.id, WAM, 50, now + 6 * 366 * DAY, ""), "deadline"),
    ]
    for new, field in cases:
        with pytest.raises(InvalidArgument) as bad:
            await svc.goals.create(OWNER, new)
        assert [v.field for v in bad.value.violations] == [field]
    assert svc.goal_store.events == []


async def test_an_archived_community_keeps_its_goals_but_takes_no_new_ones(
    svc: MemoryCommunityService,
) -> None:
    pilot = await _pilot(svc, lifecycle=Lifecycle.LIVE)
    goal = await _goal(svc, pilot, WAM, 60)
    await svc.communities.change_lifecycle(OWNER, pilot.id, Lifecycle.ARCHIVED)
    with pytest.raises(FailedPrecondition) as archived:
        await _goal(svc, pilot, WAM, 70)
    assert archived.value.reason == "COMMUNITY_ARCHIVED"
    assert [g.id for g in (await svc.goals.list(OWNER, pilot.id, 0, "")).items] == [goal]


async def test_a_hidden_communitys_goals_do_not_exist_for_outsiders(svc: MemoryCommunityService) -> None:
    hidden = await _pilot(svc, visibility=Visibility.HIDDEN)
    await _goal(svc, hidden, WAM, 60)
    for read in (svc.goals.list, svc.goals.report):
        with pytest.raises(NotFound) as outsider:
            await read(person("zed"), hidden.id, 0, "")
        assert outsider.value.reason == "COMMUNITY_NOT_FOUND"
    # Outsiders of an open community see that it exists but not its goals.
    open_one = await new_community(svc, OWNER, "open-goals")
    with pytest.raises(PermissionDenied):
        await svc.goals.list(person("zed"), open_one.id, 0, "")


async def test_the_report_measures_every_goal_of_the_page(svc: MemoryCommunityService) -> None:
    pilot = await _pilot(svc)
    wam = await _goal(svc, pilot, WAM, 60)
    ttfa = await _goal(svc, pilot, TTFA, 3600)
    contributors = await _goal(svc, pilot, GoalMetric.CONTRIBUTORS_PCT, 20)
    svc.reputation.values[(pilot.id, WAM)] = (72.5, 40)
    svc.reputation.values[(pilot.id, TTFA)] = (5400.0, 12)
    report = await svc.goals.report(person("ann"), pilot.id, 0, "")
    rows = [(p.goal.id, p.measurement.value, p.status) for p in report.items]
    assert rows == [
        (wam, 72.5, GoalStatus.ON_TRACK),
        (ttfa, 5400.0, GoalStatus.BEHIND),  # a time: lower is better
        (contributors, 0.0, GoalStatus.UNKNOWN),  # not measured yet
    ]
    assert report.comparison is None
    assert {metric for _, metric, _ in svc.reputation.measured} == {WAM, TTFA, GoalMetric.CONTRIBUTORS_PCT}


async def test_a_goal_past_its_deadline_is_judged_at_the_deadline(svc: MemoryCommunityService) -> None:
    pilot = await _pilot(svc)
    deadline = svc.clock.now + DAY
    goal = await svc.goals.create(OWNER, NewGoal(pilot.id, WAM, 60, deadline, ""))
    svc.reputation.values[(pilot.id, WAM)] = (50.0, 10)
    svc.clock.now += 3 * DAY
    [progress] = (await svc.goals.report(OWNER, pilot.id, 0, "")).items
    assert progress.status == GoalStatus.MISSED
    assert progress.measurement.until == goal.deadline
    svc.reputation.values[(pilot.id, WAM)] = (65.0, 10)
    [achieved] = (await svc.goals.report(OWNER, pilot.id, 0, "")).items
    assert achieved.status == GoalStatus.ACHIEVED


async def test_the_report_is_unavailable_while_reputation_is_down(svc: MemoryCommunityService) -> None:
    pilot = await _pilot(svc)
    await _goal(svc, pilot, WAM, 60)
    svc.reputation.unavailable = True
    with pytest.raises(Unavailable) as down:
        await svc.goals.report(OWNER, pilot.id, 0, "")
    assert down.value.reason == "REPUTATION_UNAVAILABLE"
    # Listing the goals does not ask reputation.
    assert len((await svc.goals.list(OWNER, pilot.id, 0, "")).items) == 1


# Pilot controls


async def test_owners_set_a_control_and_members_read_it_page_by_page(svc: MemoryCommunityService) -> None:
    pilot = await _pilot(svc)
    stored = await svc.pilots.set(OWNER, pilot.id, "", CONTROL_PEOPLE)
    assert stored.control.control_member_ids == ("c1", "c2", "c3", "c4", "c5")
    assert (stored.control.version, stored.members.items, stored.members.next_token) == (
        1,
        ["c1", "c2", "c3", "c4", "c5"],
        "",
    )
    [event] = svc.controls.events
    assert (event.control.version, event.region, event.programme) == (1, "amer", "sales")
    seen: list[str] = []
    token = ""
    while True:
        page = await svc.pilots.get(person("ann"), pilot.id, 2, token)
        seen += page.members.items
        if not (token := page.members.next_token):
            break
    assert seen == ["c1", "c2", "c3", "c4", "c5"]
    other = await new_community(svc, OWNER, "control-group")
    replaced = await svc.pilots.set(OWNER, pilot.id, other.id, [])
    assert (replaced.control.version, replaced.control.control_community_id) == (2, other.id)
    assert replaced.control.control_member_ids == ()
    with pytest.raises(PermissionDenied):
        await svc.pilots.set(person("ann"), pilot.id, "", CONTROL_PEOPLE)


async def test_no_control_is_not_found_and_hidden_pilots_hide_theirs(svc: MemoryCommunityService) -> None:
    pilot = await _pilot(svc, visibility=Visibility.HIDDEN)
    with pytest.raises(NotFound) as unset:
        await svc.pilots.get(OWNER, pilot.id, 0, "")
    assert unset.value.reason == "PILOT_CONTROL_NOT_FOUND"
    await svc.pilots.set(OWNER, pilot.id, "", CONTROL_PEOPLE)
    with pytest.raises(NotFound) as outsider:
        await svc.pilots.get(person("zed"), pilot.id, 0, "")
    assert outsider.value.reason == "COMMUNITY_NOT_FOUND"


async def test_bad_controls_are_refused_with_the_field_named(svc: MemoryCommunityService) -> None:
    pilot = await _pilot(svc)
    secret = await new_community(svc, person("hal"), "secret-control", visibility=Visibility.HIDDEN)
    cases = [
        ("other", ["a", "b", "c", "d", "e"], "control_member_ids"),  # both
        (pilot.id, [], "control_community_id"),  # itself
        ("", ["a", "b", "c", "d"], "control_member_ids"),  # too few people
        ("", ["a", "b", "c", "d", " e"], "control_member_ids"),
        ("no-such-community", [], "control_community_id"),
        (secret.id, [], "control_community_id"),  # hidden from the owner: as if unknown
    ]
    for control_community, people, field in cases:
        with pytest.raises(InvalidArgument) as bad:
            await svc.pilots.set(OWNER, pilot.id, control_community, people)
        assert field in {v.field for v in bad.value.violations}
    assert svc.controls.events == []


async def test_the_report_shows_the_pilot_beside_its_control(svc: MemoryCommunityService) -> None:
    pilot = await _pilot(svc)
    await _goal(svc, pilot, WAM, 60)
    comparison = PilotComparison(
        control_community_id="",
        control_member_count=5,
        since=svc.clock.now - COMPARED_SPAN,
        until=svc.clock.now,
        metrics=[
            MetricComparison(ComparisonMetric.PARTICIPATION_PCT, 40.0, 25.0, 15.0, (5.0, 25.0), 10, 5, "wald")
        ],
    )
    svc.reputation.comparisons[pilot.id] = comparison
    # No control set: no comparison, whatever reputation could say.
    assert (await svc.goals.report(OWNER, pilot.id, 0, "")).comparison is None
    await svc.pilots.set(OWNER, pilot.id, "", CONTROL_PEOPLE)
    assert (await svc.goals.report(person("ann"), pilot.id, 0, "")).comparison == comparison
    # Not compared yet: the report stands without it.
    del svc.reputation.comparisons[pilot.id]
    report = await svc.goals.report(OWNER, pilot.id, 0, "")
    assert report.comparison is None
    assert len(report.items) == 1

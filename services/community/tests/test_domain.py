"""Pure domain rules: lifecycle transitions, admission and the authorisation check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guild_common.errors import FailedPrecondition, PermissionDenied
from guild_community.domain.authorization import Action, authorize, required_role
from guild_community.domain.communities import TRANSITIONS, Community, Lifecycle, LifecycleChanged, Visibility
from guild_community.domain.experts import DECLARED_BONUS, expert_score, is_listed, normalise_topic
from guild_community.domain.goals import (
    Goal,
    GoalMetric,
    GoalStatus,
    Measurement,
    goal_status,
    measured_until,
)
from guild_community.domain.membership import Admission, Role
from guild_community.domain.people import normalise_tags

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _community(lifecycle: Lifecycle, visibility: Visibility = Visibility.OPEN, cap: int = 0) -> Community:
    community, _ = Community.create(
        id="c1",
        slug="c-one",
        name="C one",
        description="",
        programme="sales",
        region="emea",
        visibility=visibility,
        owner="olivia",
        now=NOW,
        allowed_regions=["emea"],
        lifecycle=lifecycle if lifecycle != Lifecycle.ARCHIVED else Lifecycle.LIVE,
        pilot_cap=cap,
    )
    community.lifecycle = lifecycle
    community.events.clear()
    return community


ALL_MOVES = [(a, b) for a in Lifecycle for b in Lifecycle]


@pytest.mark.parametrize(("source", "target"), ALL_MOVES, ids=[f"{a}-{b}" for a, b in ALL_MOVES])
def test_only_the_documented_transitions_are_allowed(source: Lifecycle, target: Lifecycle) -> None:
    allowed = {
        (Lifecycle.DRAFT, Lifecycle.PILOT),
        (Lifecycle.PILOT, Lifecycle.LIVE),
        (Lifecycle.PILOT, Lifecycle.DRAFT),
        (Lifecycle.LIVE, Lifecycle.ARCHIVED),
    }
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == allowed
    community = _community(source)
    if (source, target) in allowed:
        community.change_lifecycle(target, "olivia", NOW)
        assert community.lifecycle == target
        assert community.events == [LifecycleChanged("c1", source, target, "olivia", "emea", "sales", NOW)]
    else:
        with pytest.raises(FailedPrecondition):
            community.change_lifecycle(target, "olivia", NOW)
        assert community.lifecycle == source
        assert community.events == []


def test_admission_depends_on_lifecycle_visibility_invitation_and_bans() -> None:
    _community(Lifecycle.LIVE).check_admission(Admission.JOIN)
    _community(Lifecycle.LIVE, Visibility.INVITE_ONLY).check_admission(Admission.JOIN, invited=True)
    _community(Lifecycle.PILOT).check_admission(Admission.ACCEPT, invited=True)
    refusals = [
        (_community(Lifecycle.PILOT), Admission.JOIN, False, False, "NOT_IN_COHORT"),
        (_community(Lifecycle.DRAFT), Admission.JOIN, False, False, "COMMUNITY_DRAFT"),
        (_community(Lifecycle.ARCHIVED), Admission.ENROL, False, False, "COMMUNITY_ARCHIVED"),
        (_community(Lifecycle.LIVE), Admission.JOIN, True, True, "MEMBER_BANNED"),
        (_community(Lifecycle.LIVE, Visibility.HIDDEN), Admission.JOIN, False, False, "COMMUNITY_NOT_OPEN"),
        (_community(Lifecycle.LIVE), Admission.REQUEST, False, False, "REQUESTS_NOT_ACCEPTED"),
        (_community(Lifecycle.LIVE), Admission.ACCEPT, False, False, "NO_INVITATION"),
    ]
    for community, how, invited, banned, reason in refusals:
        with pytest.raises(FailedPrecondition) as caught:
            community.check_admission(how, invited=invited, banned=banned)
        assert caught.value.reason == reason


def test_the_pilot_cap_counts_current_members() -> None:
    community = _community(Lifecycle.PILOT, cap=2)
    community.check_pilot_cap(1)
    with pytest.raises(FailedPrecondition):
        community.check_pilot_cap(2)
    _community(Lifecycle.LIVE, cap=2).check_pilot_cap(100)


def test_denials_name_the_least_role_and_every_allowed_role() -> None:
    assert required_role(Action.REVIEW_JOIN_REQUESTS) == Role.MODERATOR
    with pytest.raises(PermissionDenied) as caught:
        authorize(Role.CURATOR, Action.BAN_MEMBER)
    assert caught.value.metadata == {
        "action": "ban_member",
        "required_role": "moderator",
        "allowed_roles": "moderator,owner",
    }
    with pytest.raises(PermissionDenied):
        authorize(None, Action.LEAVE_COMMUNITY)
    authorize(Role.MEMBER, Action.LEAVE_COMMUNITY)


def _goal(metric: GoalMetric, target: float) -> Goal:
    return Goal.set(
        id="g1",
        community_id="c1",
        metric=metric,
        target=target,
        deadline=NOW + timedelta(days=30),
        lifecycle=Lifecycle.PILOT,
        created_by="olivia",
        now=NOW,
    )


@pytest.mark.parametrize(
    ("metric", "target", "value", "sample", "days_later", "status"),
    [
        (GoalMetric.CONTRIBUTORS_PCT, 40, 45.0, 10, 1, GoalStatus.ON_TRACK),
        (GoalMetric.CONTRIBUTORS_PCT, 40, 39.9, 10, 1, GoalStatus.BEHIND),
        (GoalMetric.CONTRIBUTORS_PCT, 40, 40.0, 10, 31, GoalStatus.ACHIEVED),
        (GoalMetric.CONTRIBUTORS_PCT, 40, 10.0, 10, 31, GoalStatus.MISSED),
        (GoalMetric.CONTRIBUTORS_PCT, 40, 0.0, 0, 31, GoalStatus.UNKNOWN),
        # A time: lower is better.
        (GoalMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS, 3600, 1800.0, 3, 1, GoalStatus.ON_TRACK),
        (GoalMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS, 3600, 7200.0, 3, 1, GoalStatus.BEHIND),
        (GoalMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS, 3600, 7200.0, 3, 40, GoalStatus.MISSED),
    ],
)
def test_goal_status_judges_the_value_against_target_and_deadline(
    metric: GoalMetric, target: float, value: float, sample: int, days_later: int, status: GoalStatus
) -> None:
    goal = _goal(metric, target)
    now = NOW + timedelta(days=days_later)
    until = measured_until(goal, now)
    assert until == min(now, goal.deadline)
    assert goal_status(goal, Measurement(value, sample, until - timedelta(days=30), until), now) == status


def test_topics_are_normalised_as_posts_tags_and_scored_with_the_declared_bonus() -> None:
    assert normalise_topic("  Machine   Learning ") == "machine-learning"
    assert normalise_tags(["C++", "Machine Learning", "machine-learning"]) == ["c++", "machine-learning"]
    assert expert_score(30, declared=False) == 30
    assert expert_score(0, declared=True) == DECLARED_BONUS
    assert is_listed(0, declared=True, member=True)
    assert not is_listed(0, declared=False, member=True)
    assert not is_listed(30, declared=True, member=False)

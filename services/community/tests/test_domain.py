"""Pure domain rules: lifecycle transitions, admission and the authorisation check."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guild_common.errors import FailedPrecondition, PermissionDenied
from guild_community.domain.authorization import Action, authorize, required_role
from guild_community.domain.model import (
    TRANSITIONS,
    Admission,
    Community,
    Lifecycle,
    LifecycleChanged,
    Role,
    Visibility,
)

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

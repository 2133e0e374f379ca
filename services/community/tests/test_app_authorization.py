"""The authorisation table, row by row, through the use cases on in-memory ports."""

from __future__ import annotations

from datetime import timedelta

import pytest

from guild_common.errors import NotFound, PermissionDenied
from guild_community.app.goals import NewGoal
from guild_community.app.surveys import NewSurvey
from guild_community.domain.authorization import ENROL_SCOPE, Action, is_allowed, required_role
from guild_community.domain.communities import CommunityPatch, Lifecycle, Visibility
from guild_community.domain.goals import GoalMetric
from guild_community.domain.membership import Role
from guild_community.domain.surveys import Answer, QuestionType

from .memory import MemoryCommunityService, new_community, person, service_caller

OLIVIA = person("olivia")
HR = service_caller("hr-system", ENROL_SCOPE)
RATING: list[tuple[str, QuestionType | None, list[str]]] = [
    ("How useful was this week?", QuestionType.RATING, [])
]


async def _setup(svc: MemoryCommunityService, role: Role | None) -> str:
    """A live request_to_join community owned by olivia, with actor holding ``role`` (None: not a member)
    and target a member."""
    community = await new_community(
        svc, OLIVIA, "managers", programme="management", region="emea", visibility=Visibility.REQUEST_TO_JOIN
    )
    await svc.membership.enrol_cohort(HR, community.id, ["target"] if role is None else ["actor", "target"])
    if role not in (None, Role.MEMBER):
        await svc.membership.grant_role(OLIVIA, community.id, "actor", role)
    return community.id


async def _perform(svc: MemoryCommunityService, cid: str, action: Action) -> None:
    """Prepare what ``action`` needs (as olivia), then perform it as actor."""
    me = person("actor")
    if action == Action.UPDATE_COMMUNITY:
        await svc.communities.update_community(me, cid, CommunityPatch(name="Line managers"))
    elif action == Action.CHANGE_LIFECYCLE:
        await svc.communities.change_lifecycle(me, cid, Lifecycle.ARCHIVED)
    elif action == Action.ENROL_COHORT:
        # The table applies to callers granted the scope; without it nobody enrols (tested apart).
        await svc.membership.enrol_cohort(person("actor", ENROL_SCOPE), cid, ["newbie"])
    elif action == Action.GRANT_ROLE:
        await svc.membership.grant_role(me, cid, "target", Role.CHAMPION)
    elif action == Action.REVOKE_ROLE:
        await svc.membership.grant_role(OLIVIA, cid, "target", Role.CHAMPION)
        await svc.membership.revoke_role(me, cid, "target", Role.CHAMPION)
    elif action == Action.INVITE_MEMBER:
        await svc.membership.invite(me, cid, "guest")
    elif action == Action.REVIEW_JOIN_REQUESTS:
        await svc.membership.request_to_join(person("applicant"), cid)
        await svc.membership.approve_join_request(me, cid, "applicant")
    elif action == Action.REMOVE_MEMBER:
        await svc.membership.remove(me, cid, "target", ban=False)
    elif action == Action.BAN_MEMBER:
        await svc.membership.remove(me, cid, "target", ban=True)
    elif action == Action.REMOVE_STAFF:
        await svc.membership.grant_role(OLIVIA, cid, "target", Role.MODERATOR)
        await svc.membership.remove(me, cid, "target", ban=False)
    elif action == Action.LEAVE_COMMUNITY:
        await svc.membership.leave(me, cid)
    elif action == Action.MANAGE_SURVEYS:
        await svc.surveys.create(me, NewSurvey(cid, "Pulse", RATING, ""))
    elif action in (Action.VIEW_SURVEY_RESULTS, Action.ANSWER_SURVEYS):
        survey = await svc.surveys.create(OLIVIA, NewSurvey(cid, "Pulse", RATING, ""))
        await svc.surveys.open(OLIVIA, survey.id)
        if action == Action.VIEW_SURVEY_RESULTS:
            await svc.surveys.results(me, survey.id)
        else:
            await svc.surveys.submit(me, survey.id, [Answer("q1", score=4)])
    elif action == Action.MANAGE_GOALS:
        deadline = svc.clock.now + timedelta(days=1)
        await svc.goals.create(me, NewGoal(cid, GoalMetric.CONTRIBUTORS_PCT, 30, deadline, ""))
    elif action == Action.VIEW_GOALS:
        await svc.goals.list(me, cid, 0, "")
    else:  # pragma: no cover - every action has a case
        raise AssertionError(action)


ROWS = [(action, role) for action in Action for role in Role]


@pytest.mark.parametrize(("action", "role"), ROWS, ids=[f"{a.value}-{r.value}" for a, r in ROWS])
async def test_row(svc: MemoryCommunityService, action: Action, role: Role) -> None:
    cid = await _setup(svc, role)
    if is_allowed(role, action):
        await _perform(svc, cid, action)
        return
    before = len(svc.repository.events)
    with pytest.raises(PermissionDenied) as denied:
        await _perform(svc, cid, action)
    assert denied.value.reason == "ROLE_REQUIRED"
    assert denied.value.metadata["action"] == action.value
    assert denied.value.metadata["required_role"] == required_role(action).value
    # What was refused wrote nothing (bar what the preparation as olivia wrote).
    prepared = {Action.REVOKE_ROLE: 1, Action.REMOVE_STAFF: 1, Action.REVIEW_JOIN_REQUESTS: 1}
    assert len(svc.repository.events) == before + prepared.get(action, 0)


@pytest.mark.parametrize("action", list(Action), ids=[a.value for a in Action])
async def test_outsiders_are_refused_every_action(svc: MemoryCommunityService, action: Action) -> None:
    cid = await _setup(svc, None)
    if action == Action.LEAVE_COMMUNITY:
        with pytest.raises(NotFound) as not_member:
            await _perform(svc, cid, action)
        assert not_member.value.reason == "MEMBERSHIP_NOT_FOUND"
        return
    with pytest.raises(PermissionDenied) as denied:
        await _perform(svc, cid, action)
    assert denied.value.reason == "ROLE_REQUIRED"
    assert denied.value.metadata["required_role"] == required_role(action).value

"""The authorisation table: equal to its documentation, and true row by row over gRPC."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild.community.v1 import goal_pb2 as gpb
from guild.community.v1 import survey_pb2 as spb
from guild_community.domain.authorization import ENROL_SCOPE, TABLE, Action, is_allowed, required_role
from guild_community.domain.membership import Role
from guild_testing.fixtures import auth
from guild_testing.status import details_of

DOC = Path(__file__).resolve().parents[3] / "docs" / "authorization.md"
ROLE_TO_PB = {
    Role.MEMBER: pb.ROLE_MEMBER,
    Role.CHAMPION: pb.ROLE_CHAMPION,
    Role.CURATOR: pb.ROLE_CURATOR,
    Role.MODERATOR: pb.ROLE_MODERATOR,
    Role.OWNER: pb.ROLE_OWNER,
}
Stub = api_grpc.CommunityServiceStub
RATING = spb.Question(text="How useful was this week?", type=spb.QUESTION_TYPE_RATING)


def test_the_documented_table_is_the_table_in_code() -> None:
    roles = list(Role)
    documented: dict[str, frozenset[Role]] = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and cells[0] in {a.value for a in Action}:
            documented[cells[0]] = frozenset(
                r for r, cell in zip(roles, cells[1:6], strict=True) if cell == "yes"
            )
    assert documented == {a.value: roles_ for a, roles_ in TABLE.items()}


async def _setup(stub: Stub, role: Role) -> str:
    """A live request_to_join community owned by olivia, with actor holding ``role`` and target a member."""
    created: api.CreateCommunityResponse = await stub.CreateCommunity(
        api.CreateCommunityRequest(
            name="Managers",
            slug="managers",
            programme="management",
            region="emea",
            visibility=pb.VISIBILITY_REQUEST_TO_JOIN,
        ),
        metadata=auth("olivia"),
    )
    cid = created.community.id
    await stub.EnrolCohort(
        api.EnrolCohortRequest(community_id=cid, member_ids=["actor", "target"]),
        metadata=auth("olivia", ENROL_SCOPE),
    )
    if role != Role.MEMBER:
        await stub.GrantRole(
            api.GrantRoleRequest(community_id=cid, member_id="actor", role=ROLE_TO_PB[role]),
            metadata=auth("olivia"),
        )
    return cid


async def _grant(stub: Stub, cid: str, member: str, role: pb.Role.ValueType) -> None:
    await stub.GrantRole(
        api.GrantRoleRequest(community_id=cid, member_id=member, role=role), metadata=auth("olivia")
    )


async def _perform(stub: Stub, cid: str, action: Action) -> None:
    """Prepare what ``action`` needs (as olivia), then perform it as actor."""
    me = auth("actor")
    if action == Action.UPDATE_COMMUNITY:
        await stub.UpdateCommunity(
            api.UpdateCommunityRequest(
                community=pb.Community(id=cid, name="Line managers"), update_mask=FieldMask(paths=["name"])
            ),
            metadata=me,
        )
    elif action == Action.CHANGE_LIFECYCLE:
        await stub.ChangeLifecycle(
            api.ChangeLifecycleRequest(community_id=cid, lifecycle=pb.LIFECYCLE_ARCHIVED), metadata=me
        )
    elif action == Action.ENROL_COHORT:
        # The matrix applies to callers granted the scope; without it nobody enrols (tested apart).
        await stub.EnrolCohort(
            api.EnrolCohortRequest(community_id=cid, member_ids=["newbie"]),
            metadata=auth("actor", ENROL_SCOPE),
        )
    elif action == Action.GRANT_ROLE:
        await stub.GrantRole(
            api.GrantRoleRequest(community_id=cid, member_id="target", role=pb.ROLE_CHAMPION), metadata=me
        )
    elif action == Action.REVOKE_ROLE:
        await _grant(stub, cid, "target", pb.ROLE_CHAMPION)
        await stub.RevokeRole(
            api.RevokeRoleRequest(community_id=cid, member_id="target", role=pb.ROLE_CHAMPION), metadata=me
        )
    elif action == Action.INVITE_MEMBER:
        await stub.InviteMember(api.InviteMemberRequest(community_id=cid, member_id="guest"), metadata=me)
    elif action == Action.REVIEW_JOIN_REQUESTS:
        await stub.RequestToJoin(api.RequestToJoinRequest(community_id=cid), metadata=auth("applicant"))
        await stub.ApproveJoinRequest(
            api.ApproveJoinRequestRequest(community_id=cid, member_id="applicant"), metadata=me
        )
    elif action == Action.REMOVE_MEMBER:
        await stub.RemoveMember(api.RemoveMemberRequest(community_id=cid, member_id="target"), metadata=me)
    elif action == Action.BAN_MEMBER:
        await stub.BanMember(api.BanMemberRequest(community_id=cid, member_id="target"), metadata=me)
    elif action == Action.REMOVE_STAFF:
        await _grant(stub, cid, "target", pb.ROLE_MODERATOR)
        await stub.RemoveMember(api.RemoveMemberRequest(community_id=cid, member_id="target"), metadata=me)
    elif action == Action.LEAVE_COMMUNITY:
        await stub.LeaveCommunity(api.LeaveCommunityRequest(community_id=cid), metadata=me)
    elif action == Action.MANAGE_SURVEYS:
        await stub.CreateSurvey(
            api.CreateSurveyRequest(community_id=cid, title="Pulse", questions=[RATING]), metadata=me
        )
    elif action in (Action.VIEW_SURVEY_RESULTS, Action.ANSWER_SURVEYS):
        created: api.CreateSurveyResponse = await stub.CreateSurvey(
            api.CreateSurveyRequest(community_id=cid, title="Pulse", questions=[RATING]),
            metadata=auth("olivia"),
        )
        survey_id = created.survey.id
        await stub.OpenSurvey(api.OpenSurveyRequest(survey_id=survey_id), metadata=auth("olivia"))
        if action == Action.VIEW_SURVEY_RESULTS:
            await stub.GetSurveyResults(api.GetSurveyResultsRequest(survey_id=survey_id), metadata=me)
        else:
            answer = spb.Answer(question_id="q1", score=4)
            await stub.SubmitSurveyResponse(
                api.SubmitSurveyResponseRequest(survey_id=survey_id, answers=[answer]), metadata=me
            )
    elif action == Action.MANAGE_GOALS:
        await stub.CreateGoal(
            api.CreateGoalRequest(
                community_id=cid,
                metric=gpb.GOAL_METRIC_CONTRIBUTORS_PCT,
                target=30,
                deadline=Timestamp(seconds=int(time.time()) + 86400),
            ),
            metadata=me,
        )
    elif action == Action.VIEW_GOALS:
        await stub.ListGoals(api.ListGoalsRequest(community_id=cid), metadata=me)
    else:  # pragma: no cover - every action has a case
        raise AssertionError(action)


# One test per (action, role); short test names keep the per-test database names distinct.
ROWS = [(action, role) for action in Action for role in Role]


@pytest.mark.memory_too
@pytest.mark.parametrize(("action", "role"), ROWS, ids=[f"{a.value}-{r.value}" for a, r in ROWS])
async def test_row(stub: Stub, action: Action, role: Role) -> None:
    cid = await _setup(stub, role)
    perform: Callable[[], Awaitable[None]] = lambda: _perform(stub, cid, action)  # noqa: E731
    if is_allowed(role, action):
        await perform()
        return
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await perform()
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    [info] = details_of(caught.value, error_details_pb2.ErrorInfo)
    assert info.reason == "ROLE_REQUIRED"
    assert info.domain == "community.guild"
    assert info.metadata["action"] == action.value
    assert info.metadata["required_role"] == required_role(action).value


@pytest.mark.memory_too
async def test_outsiders_are_refused_with_the_role_they_lack(stub: Stub) -> None:
    cid = await _setup(stub, Role.MEMBER)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.InviteMember(
            api.InviteMemberRequest(community_id=cid, member_id="x"), metadata=auth("stranger")
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details_of(caught.value, error_details_pb2.ErrorInfo)[0].metadata["required_role"] == "moderator"

"""The CommunityService gRPC servicer: thin, mapping requests to use cases.

About 400 lines: one proto service of 43 RPCs, a few lines each."""

from __future__ import annotations

from datetime import UTC
from typing import Any, TypeAlias

import grpc

from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild_common.auth import current_principal
from guild_community.app.communities import CommunityUseCases, NewCommunity
from guild_community.app.experts import ExpertQueries
from guild_community.app.goals import GoalUseCases, NewGoal
from guild_community.app.membership import MembershipUseCases
from guild_community.app.people import PeopleUseCases
from guild_community.app.pilot import PilotControlUseCases
from guild_community.app.ports import CommunityFilter
from guild_community.app.surveys import NewSurvey, SurveyUseCases
from guild_community.entrypoints.grpc.community_service_mapping import (
    answers_from_pb,
    community_to_pb,
    enrolment_to_pb,
    expert_to_pb,
    follow_to_pb,
    goal_metric_from_pb,
    goal_progress_to_pb,
    goal_to_pb,
    initial_lifecycle_from_pb,
    invitation_to_pb,
    invitations_to_pb,
    join_request_to_pb,
    lifecycle_filter_from_pb,
    lifecycle_from_pb,
    member_to_pb,
    patch_from_pb,
    pilot_comparison_to_pb,
    pilot_control_to_pb,
    profile_patch_from_pb,
    profile_to_pb,
    questions_from_pb,
    result_to_pb,
    role_filter_from_pb,
    role_from_pb,
    settings_from_pb,
    survey_to_pb,
    visibility_filter_from_pb,
    visibility_from_pb,
)

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


class CommunityServicer(api_grpc.CommunityServiceServicer):
    def __init__(
        self,
        communities: CommunityUseCases,
        membership: MembershipUseCases,
        people: PeopleUseCases,
        surveys: SurveyUseCases,
        goals: GoalUseCases,
        experts: ExpertQueries,
        pilots: PilotControlUseCases | None = None,
    ) -> None:
        self._pilots = pilots
        self._communities = communities
        self._membership = membership
        self._people = people
        self._surveys = surveys
        self._goals = goals
        self._experts = experts

    async def CreateCommunity(
        self, request: api.CreateCommunityRequest, context: Context
    ) -> api.CreateCommunityResponse:
        threshold, pilot_cap = settings_from_pb(request)
        community = await self._communities.create_community(
            current_principal(),
            NewCommunity(
                name=request.name,
                slug=request.slug,
                description=request.description,
                programme=request.programme,
                region=request.region,
                visibility=visibility_from_pb(request.visibility),
                request_id=request.request_id,
                lifecycle=initial_lifecycle_from_pb(request.lifecycle),
                auto_hide_flag_threshold=threshold,
                pilot_cap=pilot_cap,
            ),
        )
        return api.CreateCommunityResponse(community=community_to_pb(community))

    async def GetCommunity(
        self, request: api.GetCommunityRequest, context: Context
    ) -> api.GetCommunityResponse:
        community = await self._communities.get_community(current_principal(), request.community_id)
        return api.GetCommunityResponse(community=community_to_pb(community))

    async def ListCommunities(
        self, request: api.ListCommunitiesRequest, context: Context
    ) -> api.ListCommunitiesResponse:
        where = CommunityFilter(
            programme=request.programme,
            region=request.region,
            lifecycle=lifecycle_filter_from_pb(request.lifecycle),
            visibility=visibility_filter_from_pb(request.visibility),
            name_prefix=request.name_prefix,
        )
        page = await self._communities.list_communities(
            current_principal(), where, request.mine, request.page_size, request.page_token
        )
        return api.ListCommunitiesResponse(
            communities=[community_to_pb(c) for c in page.items], next_page_token=page.next_token
        )

    async def UpdateCommunity(
        self, request: api.UpdateCommunityRequest, context: Context
    ) -> api.UpdateCommunityResponse:
        patch = patch_from_pb(request)
        community = await self._communities.update_community(current_principal(), request.community.id, patch)
        return api.UpdateCommunityResponse(community=community_to_pb(community))

    async def ChangeLifecycle(
        self, request: api.ChangeLifecycleRequest, context: Context
    ) -> api.ChangeLifecycleResponse:
        community = await self._communities.change_lifecycle(
            current_principal(), request.community_id, lifecycle_from_pb(request.lifecycle)
        )
        return api.ChangeLifecycleResponse(community=community_to_pb(community))

    async def JoinCommunity(
        self, request: api.JoinCommunityRequest, context: Context
    ) -> api.JoinCommunityResponse:
        membership = await self._membership.join(current_principal(), request.community_id)
        return api.JoinCommunityResponse(member=member_to_pb(membership))

    async def RequestToJoin(
        self, request: api.RequestToJoinRequest, context: Context
    ) -> api.RequestToJoinResponse:
        join_request = await self._membership.request_to_join(current_principal(), request.community_id)
        return api.RequestToJoinResponse(join_request=join_request_to_pb(join_request))

    async def ListJoinRequests(
        self, request: api.ListJoinRequestsRequest, context: Context
    ) -> api.ListJoinRequestsResponse:
        page = await self._membership.list_join_requests(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListJoinRequestsResponse(
            join_requests=[join_request_to_pb(r) for r in page.items], next_page_token=page.next_token
        )

    async def ApproveJoinRequest(
        self, request: api.ApproveJoinRequestRequest, context: Context
    ) -> api.ApproveJoinRequestResponse:
        membership = await self._membership.approve_join_request(
            current_principal(), request.community_id, request.member_id
        )
        return api.ApproveJoinRequestResponse(member=member_to_pb(membership))

    async def DenyJoinRequest(
        self, request: api.DenyJoinRequestRequest, context: Context
    ) -> api.DenyJoinRequestResponse:
        await self._membership.deny_join_request(current_principal(), request.community_id, request.member_id)
        return api.DenyJoinRequestResponse()

    async def InviteMember(
        self, request: api.InviteMemberRequest, context: Context
    ) -> api.InviteMemberResponse:
        invitation = await self._membership.invite(
            current_principal(), request.community_id, request.member_id
        )
        return api.InviteMemberResponse(invitation=invitation_to_pb(invitation))

    async def AcceptInvitation(
        self, request: api.AcceptInvitationRequest, context: Context
    ) -> api.AcceptInvitationResponse:
        membership = await self._membership.accept_invitation(current_principal(), request.community_id)
        return api.AcceptInvitationResponse(member=member_to_pb(membership))

    async def EnrolCohort(self, request: api.EnrolCohortRequest, context: Context) -> api.EnrolCohortResponse:
        result = await self._membership.enrol_cohort(
            current_principal(), request.community_id, list(request.member_ids)
        )
        return enrolment_to_pb(result)

    async def InviteCohort(
        self, request: api.InviteCohortRequest, context: Context
    ) -> api.InviteCohortResponse:
        result = await self._membership.invite_cohort(
            current_principal(), request.community_id, list(request.member_ids)
        )
        return invitations_to_pb(result)

    async def DeclineInvitation(
        self, request: api.DeclineInvitationRequest, context: Context
    ) -> api.DeclineInvitationResponse:
        await self._membership.decline_invitation(current_principal(), request.community_id)
        return api.DeclineInvitationResponse()

    async def LeaveCommunity(
        self, request: api.LeaveCommunityRequest, context: Context
    ) -> api.LeaveCommunityResponse:
        await self._membership.leave(current_principal(), request.community_id)
        return api.LeaveCommunityResponse()

    async def RemoveMember(
        self, request: api.RemoveMemberRequest, context: Context
    ) -> api.RemoveMemberResponse:
        await self._membership.remove(current_principal(), request.community_id, request.member_id, ban=False)
        return api.RemoveMemberResponse()

    async def BanMember(self, request: api.BanMemberRequest, context: Context) -> api.BanMemberResponse:
        await self._membership.remove(current_principal(), request.community_id, request.member_id, ban=True)
        return api.BanMemberResponse()

    async def GrantRole(self, request: api.GrantRoleRequest, context: Context) -> api.GrantRoleResponse:
        membership = await self._membership.grant_role(
            current_principal(), request.community_id, request.member_id, role_from_pb(request.role)
        )
        return api.GrantRoleResponse(member=member_to_pb(membership))

    async def RevokeRole(self, request: api.RevokeRoleRequest, context: Context) -> api.RevokeRoleResponse:
        membership = await self._membership.revoke_role(
            current_principal(), request.community_id, request.member_id, role_from_pb(request.role)
        )
        return api.RevokeRoleResponse(member=member_to_pb(membership))

    async def ListMembers(self, request: api.ListMembersRequest, context: Context) -> api.ListMembersResponse:
        page = await self._membership.list_members(
            current_principal(),
            request.community_id,
            role_filter_from_pb(request.role),
            request.page_size,
            request.page_token,
        )
        return api.ListMembersResponse(
            members=[member_to_pb(m) for m in page.items], next_page_token=page.next_token
        )

    async def GetMembership(
        self, request: api.GetMembershipRequest, context: Context
    ) -> api.GetMembershipResponse:
        membership, community = await self._membership.get_membership(
            current_principal(), request.community_id, request.member_id
        )
        return api.GetMembershipResponse(
            member=member_to_pb(membership), region=community.region, programme=community.programme
        )

    async def UpdateProfile(
        self, request: api.UpdateProfileRequest, context: Context
    ) -> api.UpdateProfileResponse:
        patch = profile_patch_from_pb(request)
        profile = await self._people.update_profile(current_principal(), request.profile.member_id, patch)
        return api.UpdateProfileResponse(profile=profile_to_pb(profile))

    async def GetProfile(self, request: api.GetProfileRequest, context: Context) -> api.GetProfileResponse:
        profile = await self._people.get_profile(current_principal(), request.member_id)
        return api.GetProfileResponse(profile=profile_to_pb(profile))

    async def FollowMember(
        self, request: api.FollowMemberRequest, context: Context
    ) -> api.FollowMemberResponse:
        follow = await self._people.follow(current_principal(), request.member_id)
        return api.FollowMemberResponse(follow=follow_to_pb(follow))

    async def UnfollowMember(
        self, request: api.UnfollowMemberRequest, context: Context
    ) -> api.UnfollowMemberResponse:
        await self._people.unfollow(current_principal(), request.member_id)
        return api.UnfollowMemberResponse()

    async def ListFollowers(
        self, request: api.ListFollowersRequest, context: Context
    ) -> api.ListFollowersResponse:
        follows, token = await self._people.list_followers(
            current_principal(), request.member_id, request.page_size, request.page_token
        )
        return api.ListFollowersResponse(follows=[follow_to_pb(f) for f in follows], next_page_token=token)

    async def ListFollowing(
        self, request: api.ListFollowingRequest, context: Context
    ) -> api.ListFollowingResponse:
        follows, token = await self._people.list_following(
            current_principal(), request.member_id, request.page_size, request.page_token
        )
        return api.ListFollowingResponse(follows=[follow_to_pb(f) for f in follows], next_page_token=token)

    async def CreateSurvey(
        self, request: api.CreateSurveyRequest, context: Context
    ) -> api.CreateSurveyResponse:
        survey = await self._surveys.create(
            current_principal(),
            NewSurvey(
                community_id=request.community_id,
                title=request.title,
                questions=questions_from_pb(request.questions),
                request_id=request.request_id,
            ),
        )
        return api.CreateSurveyResponse(survey=survey_to_pb(survey))

    async def OpenSurvey(self, request: api.OpenSurveyRequest, context: Context) -> api.OpenSurveyResponse:
        survey = await self._surveys.open(current_principal(), request.survey_id)
        return api.OpenSurveyResponse(survey=survey_to_pb(survey))

    async def CloseSurvey(self, request: api.CloseSurveyRequest, context: Context) -> api.CloseSurveyResponse:
        survey = await self._surveys.close(current_principal(), request.survey_id)
        return api.CloseSurveyResponse(survey=survey_to_pb(survey))

    async def GetSurvey(self, request: api.GetSurveyRequest, context: Context) -> api.GetSurveyResponse:
        survey = await self._surveys.get(current_principal(), request.survey_id)
        return api.GetSurveyResponse(survey=survey_to_pb(survey))

    async def SubmitSurveyResponse(
        self, request: api.SubmitSurveyResponseRequest, context: Context
    ) -> api.SubmitSurveyResponseResponse:
        replaced = await self._surveys.submit(
            current_principal(), request.survey_id, answers_from_pb(request.answers)
        )
        return api.SubmitSurveyResponseResponse(replaced=replaced)

    async def GetSurveyResults(
        self, request: api.GetSurveyResultsRequest, context: Context
    ) -> api.GetSurveyResultsResponse:
        survey, results = await self._surveys.results(current_principal(), request.survey_id)
        return api.GetSurveyResultsResponse(
            survey=survey_to_pb(survey), results=[result_to_pb(r) for r in results]
        )

    async def ListFreeTextAnswers(
        self, request: api.ListFreeTextAnswersRequest, context: Context
    ) -> api.ListFreeTextAnswersResponse:
        answers, token = await self._surveys.free_text(
            current_principal(), request.survey_id, request.question_id, request.page_size, request.page_token
        )
        return api.ListFreeTextAnswersResponse(
            answers=[api.FreeTextAnswer(member_id=m, text=t) for m, t in answers], next_page_token=token
        )

    async def CreateGoal(self, request: api.CreateGoalRequest, context: Context) -> api.CreateGoalResponse:
        goal = await self._goals.create(
            current_principal(),
            NewGoal(
                community_id=request.community_id,
                metric=goal_metric_from_pb(request.metric),
                target=request.target,
                deadline=request.deadline.ToDatetime(tzinfo=UTC) if request.HasField("deadline") else None,
                request_id=request.request_id,
            ),
        )
        return api.CreateGoalResponse(goal=goal_to_pb(goal))

    async def ListGoals(self, request: api.ListGoalsRequest, context: Context) -> api.ListGoalsResponse:
        page = await self._goals.list(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListGoalsResponse(
            goals=[goal_to_pb(g) for g in page.items], next_page_token=page.next_token
        )

    async def ListExperts(self, request: api.ListExpertsRequest, context: Context) -> api.ListExpertsResponse:
        page = await self._experts.list_experts(
            current_principal(), request.community_id, request.tag, request.page_size, request.page_token
        )
        return api.ListExpertsResponse(
            experts=[expert_to_pb(e) for e in page.items], next_page_token=page.next_token
        )

    async def GetGoalReport(
        self, request: api.GetGoalReportRequest, context: Context
    ) -> api.GetGoalReportResponse:
        page = await self._goals.report(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        response = api.GetGoalReportResponse(
            goals=[goal_progress_to_pb(p) for p in page.items], next_page_token=page.next_token
        )
        if page.comparison is not None:
            response.pilot_comparison.CopyFrom(pilot_comparison_to_pb(page.comparison))
        return response

    def _pilot_controls(self) -> PilotControlUseCases:
        assert self._pilots is not None, "pilot controls are not configured"
        return self._pilots

    async def SetPilotControl(
        self, request: api.SetPilotControlRequest, context: Context
    ) -> api.SetPilotControlResponse:
        page = await self._pilot_controls().set(
            current_principal(),
            request.community_id,
            request.control_community_id,
            list(request.control_member_ids),
        )
        return api.SetPilotControlResponse(
            control=pilot_control_to_pb(page.control, list(page.members.items))
        )

    async def GetPilotControl(
        self, request: api.GetPilotControlRequest, context: Context
    ) -> api.GetPilotControlResponse:
        page = await self._pilot_controls().get(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.GetPilotControlResponse(
            control=pilot_control_to_pb(page.control, list(page.members.items)),
            next_page_token=page.members.next_token,
        )

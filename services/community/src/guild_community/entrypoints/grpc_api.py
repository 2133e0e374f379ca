"""The CommunityService gRPC servicer: thin, mapping requests to use cases."""

from __future__ import annotations

import grpc

from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as api_grpc
from guild_common.auth import current_principal
from guild_community.app.use_cases import CommunityUseCases, NewCommunity
from guild_community.entrypoints.mapping import (
    community_to_pb,
    member_to_pb,
    role_filter_from_pb,
    visibility_from_pb,
)


class CommunityServicer(api_grpc.CommunityServiceServicer):
    def __init__(self, use_cases: CommunityUseCases) -> None:
        self._uc = use_cases

    async def CreateCommunity(
        self, request: api.CreateCommunityRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateCommunityResponse:
        community = await self._uc.create_community(
            current_principal(),
            NewCommunity(
                name=request.name,
                slug=request.slug,
                description=request.description,
                programme=request.programme,
                region=request.region,
                visibility=visibility_from_pb(request.visibility),
                request_id=request.request_id,
            ),
        )
        return api.CreateCommunityResponse(community=community_to_pb(community))

    async def GetCommunity(
        self, request: api.GetCommunityRequest, context: grpc.aio.ServicerContext
    ) -> api.GetCommunityResponse:
        community = await self._uc.get_community(current_principal(), request.community_id)
        return api.GetCommunityResponse(community=community_to_pb(community))

    async def JoinCommunity(
        self, request: api.JoinCommunityRequest, context: grpc.aio.ServicerContext
    ) -> api.JoinCommunityResponse:
        membership = await self._uc.join(current_principal(), request.community_id)
        return api.JoinCommunityResponse(member=member_to_pb(membership))

    async def ListMembers(
        self, request: api.ListMembersRequest, context: grpc.aio.ServicerContext
    ) -> api.ListMembersResponse:
        page = await self._uc.list_members(
            current_principal(),
            request.community_id,
            role_filter_from_pb(request.role),
            request.page_size,
            request.page_token,
        )
        return api.ListMembersResponse(
            members=[member_to_pb(m) for m in page.members], next_page_token=page.next_token
        )

    async def GetMembership(
        self, request: api.GetMembershipRequest, context: grpc.aio.ServicerContext
    ) -> api.GetMembershipResponse:
        membership, community = await self._uc.get_membership(
            current_principal(), request.community_id, request.member_id
        )
        return api.GetMembershipResponse(
            member=member_to_pb(membership), region=community.region, programme=community.programme
        )

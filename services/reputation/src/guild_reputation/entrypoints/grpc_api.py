"""The ReputationService gRPC servicer."""

from __future__ import annotations

import grpc

from guild.reputation.v1 import leaderboard_pb2 as pb
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.auth import current_principal
from guild_reputation.app.queries import LeaderboardQueries
from guild_reputation.domain.leaderboard import Standing


def _standing(s: Standing) -> pb.Standing:
    return pb.Standing(member_id=s.member_id, points=s.points, rank=s.rank)


class ReputationServicer(api_grpc.ReputationServiceServicer):
    def __init__(self, queries: LeaderboardQueries) -> None:
        self._queries = queries

    async def GetLeaderboard(
        self, request: api.GetLeaderboardRequest, context: grpc.aio.ServicerContext
    ) -> api.GetLeaderboardResponse:
        view = self._queries.top(current_principal(), request.community_id, request.top)
        return api.GetLeaderboardResponse(
            standings=[_standing(s) for s in view.standings], total_members=view.total_members
        )

    async def GetStanding(
        self, request: api.GetStandingRequest, context: grpc.aio.ServicerContext
    ) -> api.GetStandingResponse:
        standing, total = self._queries.standing(current_principal(), request.community_id, request.member_id)
        return api.GetStandingResponse(standing=_standing(standing), total_members=total)

"""The ReputationService gRPC servicer."""

from __future__ import annotations

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from guild.reputation.v1 import badge_pb2
from guild.reputation.v1 import leaderboard_pb2 as pb
from guild.reputation.v1 import points_rules_pb2 as rules_pb
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.auth import current_principal
from guild_reputation.app.badges import BadgeUseCases
from guild_reputation.app.queries import LeaderboardQueries
from guild_reputation.app.use_cases import PointsRulesUseCases
from guild_reputation.domain.badges import Award, Tier
from guild_reputation.domain.leaderboard import Standing
from guild_reputation.domain.periods import PeriodKind
from guild_reputation.domain.rules import Rule, RuleSetting

_PERIOD_FROM_PB = {
    pb.PERIOD_UNSPECIFIED: PeriodKind.ALL_TIME,
    pb.PERIOD_ALL_TIME: PeriodKind.ALL_TIME,
    pb.PERIOD_WEEK: PeriodKind.WEEK,
    pb.PERIOD_MONTH: PeriodKind.MONTH,
}


def _standing(s: Standing) -> pb.Standing:
    return pb.Standing(member_id=s.member_id, points=s.points, rank=s.rank)


def _period(value: int) -> PeriodKind:
    # Unknown values from newer clients read as all time.
    return _PERIOD_FROM_PB.get(pb.Period.ValueType(value), PeriodKind.ALL_TIME)


def _rules(table: dict[Rule, RuleSetting]) -> list[rules_pb.PointsRule]:
    return [
        rules_pb.PointsRule(rule=rule.value, points=s.points, daily_cap=s.daily_cap)
        for rule, s in table.items()
    ]


_TIER_TO_PB = {
    Tier.BRONZE: badge_pb2.BADGE_TIER_BRONZE,
    Tier.SILVER: badge_pb2.BADGE_TIER_SILVER,
    Tier.GOLD: badge_pb2.BADGE_TIER_GOLD,
}


def _award(a: Award) -> badge_pb2.BadgeAward:
    time = Timestamp()
    time.FromDatetime(a.time)
    return badge_pb2.BadgeAward(
        award_id=a.id,
        badge=a.badge.value,
        tier=_TIER_TO_PB[a.tier],
        title=a.title,
        community_id=a.community_id,
        member_id=a.member_id,
        citation=a.citation,
        granted_by=a.granted_by,
        award_time=time,
    )


class ReputationServicer(api_grpc.ReputationServiceServicer):
    def __init__(
        self, queries: LeaderboardQueries, rules: PointsRulesUseCases, badges: BadgeUseCases
    ) -> None:
        self._queries = queries
        self._rules = rules
        self._badges = badges

    async def GetLeaderboard(
        self, request: api.GetLeaderboardRequest, context: grpc.aio.ServicerContext
    ) -> api.GetLeaderboardResponse:
        view = self._queries.top(
            current_principal(),
            request.community_id,
            request.top,
            period=_period(request.period),
            all_communities=request.all_communities,
        )
        return api.GetLeaderboardResponse(
            standings=[_standing(s) for s in view.standings], total_members=view.total_members
        )

    async def GetStanding(
        self, request: api.GetStandingRequest, context: grpc.aio.ServicerContext
    ) -> api.GetStandingResponse:
        view = self._queries.standing(
            current_principal(),
            request.community_id,
            request.member_id,
            period=_period(request.period),
            all_communities=request.all_communities,
        )
        response = api.GetStandingResponse(
            standing=_standing(view.standing), total_members=view.total_members, percentile=view.percentile
        )
        if view.above is not None:
            response.above.CopyFrom(_standing(view.above))
        if view.below is not None:
            response.below.CopyFrom(_standing(view.below))
        return response

    async def SetPointsRules(
        self, request: api.SetPointsRulesRequest, context: grpc.aio.ServicerContext
    ) -> api.SetPointsRulesResponse:
        table = await self._rules.set_rules(
            current_principal(),
            request.community_id,
            [(r.rule, r.points, r.daily_cap) for r in request.rules],
        )
        return api.SetPointsRulesResponse(rules=_rules(table))

    async def GetPointsRules(
        self, request: api.GetPointsRulesRequest, context: grpc.aio.ServicerContext
    ) -> api.GetPointsRulesResponse:
        return api.GetPointsRulesResponse(rules=_rules(await self._rules.effective(request.community_id)))

    async def ListBadges(
        self, request: api.ListBadgesRequest, context: grpc.aio.ServicerContext
    ) -> api.ListBadgesResponse:
        awards, token = await self._badges.list(
            current_principal(),
            request.member_id,
            request.community_id,
            request.page_size,
            request.page_token,
        )
        return api.ListBadgesResponse(awards=[_award(a) for a in awards], next_page_token=token)

    async def GrantChampionBadge(
        self, request: api.GrantChampionBadgeRequest, context: grpc.aio.ServicerContext
    ) -> api.GrantChampionBadgeResponse:
        award = await self._badges.grant_champion(
            current_principal(), request.community_id, request.member_id, request.citation
        )
        return api.GrantChampionBadgeResponse(award=_award(award))

"""The ReputationService gRPC servicer: validates, calls one use case, maps the answer."""

from __future__ import annotations

import grpc

from guild.reputation.v1 import badge_pb2
from guild.reputation.v1 import cpd_pb2 as cpd_pb
from guild.reputation.v1 import insights_pb2 as insights_pb
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.auth import current_principal
from guild_common.errors import Unavailable
from guild_common.prototime import to_timestamp
from guild_reputation.app.badges import BadgeUseCases
from guild_reputation.app.cpd import CpdUseCases
from guild_reputation.app.custom_badges import BadgeDefinitionUseCases
from guild_reputation.app.insights import InsightsQueries
from guild_reputation.app.leaderboards import LeaderboardQueries, TagQueries
from guild_reputation.app.pilot import PilotComparisons
from guild_reputation.app.points_rules import PointsRulesUseCases
from guild_reputation.app.recognition import RecognitionUseCases
from guild_reputation.domain.insights import Scope
from guild_reputation.entrypoints.grpc.reputation_service_mapping import (
    ACTIVITY_FROM_PB,
    BADGE_PERIOD_FROM_PB,
    FORMAT_FROM_PB,
    METRIC_FROM_PB,
    TIER_FROM_PB,
    award_message,
    comparison_message,
    credit_message,
    definition_message,
    goal_response,
    insights_message,
    optional_time,
    period_from_pb,
    rules_message,
    rules_messages,
    standing_message,
    summary_message,
    totals_message,
)


class CpdRpcs:
    """Mixed into the ReputationService servicer."""

    _cpd: CpdUseCases | None = None

    def _cpd_use_cases(self) -> CpdUseCases:
        if self._cpd is None:
            raise Unavailable("CPD is not configured", reason="CPD_UNAVAILABLE")
        return self._cpd

    async def SetCpdRules(
        self, request: api.SetCpdRulesRequest, context: grpc.aio.ServicerContext
    ) -> api.SetCpdRulesResponse:
        r = request.rules
        rules = await self._cpd_use_cases().set_rules(
            current_principal(),
            request.community_id,
            [(ACTIVITY_FROM_PB.get(a.activity), a.minutes) for a in r.activities],
            r.year_cap_minutes,
            r.month_cap_minutes,
            r.reflection_required,
            r.year_start_month,
            r.time_zone,
        )
        return api.SetCpdRulesResponse(rules=rules_message(request.community_id, rules))

    async def GetCpdRules(
        self, request: api.GetCpdRulesRequest, context: grpc.aio.ServicerContext
    ) -> api.GetCpdRulesResponse:
        rules = await self._cpd_use_cases().rules(current_principal(), request.community_id)
        return api.GetCpdRulesResponse(rules=rules_message(request.community_id, rules))

    async def AddCpdReflection(
        self, request: api.AddCpdReflectionRequest, context: grpc.aio.ServicerContext
    ) -> api.AddCpdReflectionResponse:
        credit = await self._cpd_use_cases().reflect(
            current_principal(),
            request.credit_id,
            request.reflection.learned,
            request.reflection.practice_change,
        )
        return api.AddCpdReflectionResponse(credit=credit_message(credit))

    async def ListCpdLog(
        self, request: api.ListCpdLogRequest, context: grpc.aio.ServicerContext
    ) -> api.ListCpdLogResponse:
        page = await self._cpd_use_cases().log(
            current_principal(),
            request.member_id,
            request.cpd_year,
            request.community_id,
            request.page_size,
            request.page_token,
        )
        return api.ListCpdLogResponse(
            credits=[credit_message(c) for c in page.items],
            totals=totals_message(page.totals),
            next_page_token=page.next_token,
            cpd_year=page.cpd_year,
        )

    async def ExportCpdLog(
        self, request: api.ExportCpdLogRequest, context: grpc.aio.ServicerContext
    ) -> api.ExportCpdLogResponse:
        export = await self._cpd_use_cases().export(
            current_principal(),
            request.cpd_year,
            request.community_id,
            FORMAT_FROM_PB.get(cpd_pb.CpdExportFormat.ValueType(request.format), ""),
        )
        return api.ExportCpdLogResponse(
            content=export.content,
            content_type=export.content_type,
            filename=export.filename,
            totals=totals_message(export.totals),
        )

    async def SetCpdSharing(
        self, request: api.SetCpdSharingRequest, context: grpc.aio.ServicerContext
    ) -> api.SetCpdSharingResponse:
        at = await self._cpd_use_cases().share(current_principal(), request.community_id, request.shared)
        return api.SetCpdSharingResponse(
            community_id=request.community_id, shared=request.shared, update_time=to_timestamp(at)
        )

    async def ListCpdMemberTotals(
        self, request: api.ListCpdMemberTotalsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListCpdMemberTotalsResponse:
        view = await self._cpd_use_cases().member_totals(
            current_principal(), request.community_id, request.cpd_year, request.page_size, request.page_token
        )
        return api.ListCpdMemberTotalsResponse(
            totals=[
                cpd_pb.CpdMemberTotal(
                    member_id=t.member_id,
                    counted_minutes=t.counted_minutes,
                    counted_credits=t.counted_credits,
                )
                for t in view.items
            ],
            not_shared_members=view.not_shared,
            next_page_token=view.next_token,
            cpd_year=view.cpd_year,
        )


class ReputationServicer(CpdRpcs, api_grpc.ReputationServiceServicer):
    def __init__(
        self,
        queries: LeaderboardQueries,
        rules: PointsRulesUseCases,
        badges: BadgeUseCases,
        insights: InsightsQueries,
        recognition: RecognitionUseCases,
        tags: TagQueries,
        definitions: BadgeDefinitionUseCases,
        pilots: PilotComparisons | None = None,
        cpd: CpdUseCases | None = None,
    ) -> None:
        self._pilots = pilots
        self._cpd = cpd
        self._definitions = definitions
        self._recognition = recognition
        self._tags = tags
        self._queries = queries
        self._insights = insights
        self._rules = rules
        self._badges = badges

    async def GetLeaderboard(
        self, request: api.GetLeaderboardRequest, context: grpc.aio.ServicerContext
    ) -> api.GetLeaderboardResponse:
        view = await self._queries.top(
            current_principal(),
            request.community_id,
            request.top,
            period=period_from_pb(request.period),
            all_communities=request.all_communities,
        )
        return api.GetLeaderboardResponse(
            standings=[standing_message(s) for s in view.standings], total_members=view.total_members
        )

    async def GetStanding(
        self, request: api.GetStandingRequest, context: grpc.aio.ServicerContext
    ) -> api.GetStandingResponse:
        view = await self._queries.standing(
            current_principal(),
            request.community_id,
            request.member_id,
            period=period_from_pb(request.period),
            all_communities=request.all_communities,
        )
        response = api.GetStandingResponse(
            standing=standing_message(view.standing),
            total_members=view.total_members,
            percentile=view.percentile,
        )
        if view.above is not None:
            response.above.CopyFrom(standing_message(view.above))
        if view.below is not None:
            response.below.CopyFrom(standing_message(view.below))
        return response

    async def SetPointsRules(
        self, request: api.SetPointsRulesRequest, context: grpc.aio.ServicerContext
    ) -> api.SetPointsRulesResponse:
        table = await self._rules.set_rules(
            current_principal(),
            request.community_id,
            [(r.rule, r.points, r.daily_cap) for r in request.rules],
        )
        return api.SetPointsRulesResponse(rules=rules_messages(table))

    async def GetPointsRules(
        self, request: api.GetPointsRulesRequest, context: grpc.aio.ServicerContext
    ) -> api.GetPointsRulesResponse:
        table = await self._rules.effective(current_principal(), request.community_id)
        return api.GetPointsRulesResponse(rules=rules_messages(table))

    async def ListBadges(
        self, request: api.ListBadgesRequest, context: grpc.aio.ServicerContext
    ) -> api.ListBadgesResponse:
        awards = await self._badges.list(
            current_principal(),
            request.member_id,
            request.community_id,
            request.page_size,
            request.page_token,
        )
        return api.ListBadgesResponse(
            awards=[award_message(a) for a in awards.items], next_page_token=awards.next_token
        )

    async def GrantChampionBadge(
        self, request: api.GrantChampionBadgeRequest, context: grpc.aio.ServicerContext
    ) -> api.GrantChampionBadgeResponse:
        award = await self._badges.grant_champion(
            current_principal(), request.community_id, request.member_id, request.citation
        )
        return api.GrantChampionBadgeResponse(award=award_message(award))

    async def GetInsights(
        self, request: api.GetInsightsRequest, context: grpc.aio.ServicerContext
    ) -> api.GetInsightsResponse:
        which = request.WhichOneof("scope")
        scope = Scope(which) if which else None
        scope_id = str(getattr(request, which)) if which else ""
        insights = await self._insights.insights(current_principal(), scope, scope_id, request.week)
        return api.GetInsightsResponse(insights=insights_message(insights))

    async def GetGoalProgress(
        self, request: api.GetGoalProgressRequest, context: grpc.aio.ServicerContext
    ) -> api.GetGoalProgressResponse:
        value = await self._insights.goal_progress(
            current_principal(),
            request.community_id,
            METRIC_FROM_PB.get(insights_pb.GoalMetric.ValueType(request.metric)),
            optional_time(request, "since"),
            optional_time(request, "until"),
        )
        return goal_response(value)

    async def ComparePilot(
        self, request: api.ComparePilotRequest, context: grpc.aio.ServicerContext
    ) -> api.ComparePilotResponse:
        if self._pilots is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "pilot comparisons are not served here")
        assert self._pilots is not None
        comparison = await self._pilots.compare(
            current_principal(),
            request.community_id,
            optional_time(request, "start_time"),
            optional_time(request, "end_time"),
        )
        return api.ComparePilotResponse(comparison=comparison_message(comparison))

    async def GetContributionSummary(
        self, request: api.GetContributionSummaryRequest, context: grpc.aio.ServicerContext
    ) -> api.GetContributionSummaryResponse:
        summary = await self._recognition.summary(
            current_principal(),
            request.member_id,
            optional_time(request, "start_time"),
            optional_time(request, "end_time"),
        )
        return api.GetContributionSummaryResponse(summary=summary_message(summary))

    async def RequestContributionSummary(
        self, request: api.RequestContributionSummaryRequest, context: grpc.aio.ServicerContext
    ) -> api.RequestContributionSummaryResponse:
        summary_id, summary = await self._recognition.request(
            current_principal(),
            request.member_id,
            optional_time(request, "start_time"),
            optional_time(request, "end_time"),
            request.request_id,
        )
        return api.RequestContributionSummaryResponse(summary_id=summary_id, summary=summary_message(summary))

    async def ListTopMembersByTag(
        self, request: api.ListTopMembersByTagRequest, context: grpc.aio.ServicerContext
    ) -> api.ListTopMembersByTagResponse:
        standings = await self._tags.top(
            current_principal(), request.community_id, request.tag, request.page_size, request.page_token
        )
        return api.ListTopMembersByTagResponse(
            standings=[standing_message(s) for s in standings.items], next_page_token=standings.next_token
        )

    async def CreateBadgeDefinition(
        self, request: api.CreateBadgeDefinitionRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateBadgeDefinitionResponse:
        t = request.template
        definition = await self._definitions.create(
            current_principal(),
            community_id=request.community_id,
            title=request.title,
            description=request.description,
            tier=TIER_FROM_PB.get(badge_pb2.BadgeTier.ValueType(request.tier)),
            event_type=t.event_type,
            threshold=t.threshold,
            period=BADGE_PERIOD_FROM_PB.get(badge_pb2.BadgePeriod.ValueType(t.period)),
            rolling_days=t.rolling_days,
            tag=t.tag,
            repeatable=request.repeatable,
            request_id=request.request_id,
        )
        return api.CreateBadgeDefinitionResponse(definition=definition_message(definition))

    async def ListBadgeDefinitions(
        self, request: api.ListBadgeDefinitionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListBadgeDefinitionsResponse:
        definitions = await self._definitions.page(
            current_principal(),
            request.community_id,
            request.include_archived,
            request.page_size,
            request.page_token,
        )
        return api.ListBadgeDefinitionsResponse(
            definitions=[definition_message(d) for d in definitions.items],
            next_page_token=definitions.next_token,
        )

    async def ArchiveBadgeDefinition(
        self, request: api.ArchiveBadgeDefinitionRequest, context: grpc.aio.ServicerContext
    ) -> api.ArchiveBadgeDefinitionResponse:
        definition = await self._definitions.archive(current_principal(), request.definition_id)
        return api.ArchiveBadgeDefinitionResponse(definition=definition_message(definition))

    async def ExportBadgeCredential(
        self, request: api.ExportBadgeCredentialRequest, context: grpc.aio.ServicerContext
    ) -> api.ExportBadgeCredentialResponse:
        credential, signed = await self._definitions.export(current_principal(), request.award_id)
        return api.ExportBadgeCredentialResponse(credential_json=credential, credential_jwt=signed)

    async def GetBadgeIssuer(
        self, request: api.GetBadgeIssuerRequest, context: grpc.aio.ServicerContext
    ) -> api.GetBadgeIssuerResponse:
        profile, keys = self._definitions.issuer()
        return api.GetBadgeIssuerResponse(profile_json=profile, jwks_json=keys)

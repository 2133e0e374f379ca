"""The ReputationService gRPC servicer."""

from __future__ import annotations

from datetime import datetime, timedelta

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from guild.reputation.v1 import badge_pb2
from guild.reputation.v1 import insights_pb2 as insights_pb
from guild.reputation.v1 import leaderboard_pb2 as pb
from guild.reputation.v1 import points_rules_pb2 as rules_pb
from guild.reputation.v1 import recognition_pb2 as recognition_pb
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.auth import current_principal
from guild_common.prototime import request_time
from guild_common.prototime import to_timestamp as _timestamp
from guild_reputation.app.badges import BadgeUseCases
from guild_reputation.app.cpd import CpdUseCases
from guild_reputation.app.custom_badges import BadgeDefinitionUseCases
from guild_reputation.app.insights import InsightsQueries
from guild_reputation.app.pilot import PilotComparisons
from guild_reputation.app.queries import LeaderboardQueries, TagQueries
from guild_reputation.app.recognition import RecognitionUseCases
from guild_reputation.app.use_cases import PointsRulesUseCases
from guild_reputation.domain.badges import Award, Tier
from guild_reputation.domain.custom_badges import BadgeDefinition, TemplatePeriod
from guild_reputation.domain.insights import GoalMetric, GoalValue, Insights, PostKind, Scope, pct
from guild_reputation.domain.leaderboard import Standing
from guild_reputation.domain.periods import PeriodKind
from guild_reputation.domain.pilot import ComparisonMetric, PilotComparison
from guild_reputation.domain.recognition import ContributionSummary
from guild_reputation.domain.rules import Rule, RuleSetting
from guild_reputation.entrypoints.cpd_api import CpdRpcs

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
        badge=a.badge,
        tier=_TIER_TO_PB[a.tier],
        title=a.title,
        community_id=a.community_id,
        member_id=a.member_id,
        citation=a.citation,
        granted_by=a.granted_by,
        award_time=time,
        definition_id=a.definition_id,
        description=a.description,
    )


_TIER_FROM_PB = {
    badge_pb2.BADGE_TIER_UNSPECIFIED: Tier.BRONZE,
    **{value: tier for tier, value in _TIER_TO_PB.items()},
}
_BADGE_PERIOD_FROM_PB = {
    badge_pb2.BADGE_PERIOD_UNSPECIFIED: TemplatePeriod.ALL_TIME,
    badge_pb2.BADGE_PERIOD_ALL_TIME: TemplatePeriod.ALL_TIME,
    badge_pb2.BADGE_PERIOD_WEEK: TemplatePeriod.WEEK,
    badge_pb2.BADGE_PERIOD_MONTH: TemplatePeriod.MONTH,
    badge_pb2.BADGE_PERIOD_ROLLING_DAYS: TemplatePeriod.ROLLING_DAYS,
}
_BADGE_PERIOD_TO_PB = {
    period: value
    for value, period in _BADGE_PERIOD_FROM_PB.items()
    if value != badge_pb2.BADGE_PERIOD_UNSPECIFIED
}


def _definition(d: BadgeDefinition) -> badge_pb2.BadgeDefinition:
    t = d.template
    message = badge_pb2.BadgeDefinition(
        definition_id=d.id,
        community_id=d.community_id,
        title=d.title,
        description=d.description,
        tier=_TIER_TO_PB[d.tier],
        template=badge_pb2.BadgeTemplate(
            event_type=t.event_type.value,
            threshold=t.threshold,
            period=_BADGE_PERIOD_TO_PB[t.period],
            rolling_days=t.rolling_days,
            tag=t.tag,
        ),
        repeatable=d.repeatable,
        archived=d.archived,
        created_by=d.created_by,
        create_time=_timestamp(d.create_time),
    )
    if d.archive_time is not None:
        message.archive_time.CopyFrom(_timestamp(d.archive_time))
    return message


_METRIC_FROM_PB = {
    insights_pb.GoalMetric.Value(f"GOAL_METRIC_{metric.name}"): metric for metric in GoalMetric
}
_METRIC_TO_PB = {metric: value for value, metric in _METRIC_FROM_PB.items()}


def _optional_time(message: Message, name: str) -> datetime | None:
    return request_time(message, name)


_COMPARISON_TO_PB: dict[ComparisonMetric, insights_pb.ComparisonMetric.ValueType] = {
    ComparisonMetric.PARTICIPATION_PCT: insights_pb.COMPARISON_METRIC_PARTICIPATION_PCT,
    ComparisonMetric.QUESTIONS_ANSWERED_PCT: insights_pb.COMPARISON_METRIC_QUESTIONS_ANSWERED_PCT,
    ComparisonMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS: (
        insights_pb.COMPARISON_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS
    ),
}


def _comparison(c: PilotComparison) -> insights_pb.PilotComparison:
    metrics = []
    for m in c.metrics:
        d = m.difference
        message = insights_pb.MetricComparison(
            metric=_COMPARISON_TO_PB[m.metric],
            pilot_value=d.pilot,
            control_value=d.control,
            difference=d.difference,
            pilot_sample_size=d.pilot_n,
            control_sample_size=d.control_n,
            interval_method=m.method.value,
        )
        if d.interval is not None:
            message.has_interval = True
            message.interval_low = d.interval.low
            message.interval_high = d.interval.high
        metrics.append(message)
    return insights_pb.PilotComparison(
        community_id=c.community_id,
        control_community_id=c.control_community_id,
        control_member_count=c.control_member_count,
        start_time=_timestamp(c.start),
        end_time=_timestamp(c.end),
        metrics=metrics,
    )


def _insights(i: Insights) -> insights_pb.Insights:
    q = i.questions
    message = insights_pb.Insights(
        week=i.week,
        week_start=_timestamp(i.week_start),
        as_of=_timestamp(i.as_of),
        members=i.members,
        active_members_7_days=i.active_7_days,
        active_members_30_days=i.active_30_days,
        contributors=i.contributors,
        contributors_pct=pct(i.contributors, i.members),
        posts=insights_pb.PostsByKind(
            questions=i.posts[PostKind.QUESTION],
            answers=i.posts[PostKind.ANSWER],
            comments=i.posts[PostKind.COMMENT],
            resources=i.posts[PostKind.RESOURCE],
        ),
        questions_asked=q.asked,
        questions_answered=q.answered,
        questions_answered_pct=pct(q.answered, q.asked),
        answered_within_24h_pct=pct(q.answered_within_24h, q.asked),
        new_starters=i.new_starters,
        new_starters_posted=i.new_starters_posted,
        new_starters_posted_pct=pct(i.new_starters_posted, i.new_starters),
        top_contributors=[
            insights_pb.Contributor(member_id=member, posts=posts) for member, posts in i.top_contributors
        ],
    )
    setattr(message, i.scope.value, i.scope_id)
    if q.median_seconds is not None:
        message.median_time_to_first_answer.FromTimedelta(timedelta(seconds=q.median_seconds))
    return message


def _goal(g: GoalValue) -> api.GetGoalProgressResponse:
    return api.GetGoalProgressResponse(
        metric=_METRIC_TO_PB[g.metric],
        value=g.value,
        sample_size=g.sample_size,
        since=_timestamp(g.since),
        until=_timestamp(g.until),
    )


def _summary(c: ContributionSummary) -> recognition_pb.ContributionSummary:
    message = recognition_pb.ContributionSummary(
        member_id=c.member_id,
        start_time=_timestamp(c.start),
        end_time=_timestamp(c.end),
        questions=c.questions,
        answers=c.answers,
        accepted_answers=c.accepted_answers,
        comments=c.comments,
        resources_shared=c.resources_shared,
        resource_average_rating=c.resource_average_rating,
        resource_ratings=c.resource_ratings,
        badges=[_award(a) for a in c.badges],
        top_tags=[recognition_pb.TagCount(tag=tag, count=count) for tag, count in c.top_tags],
        community_ids=c.community_ids,
        collections_curated=c.collections_curated,
    )
    for held in c.roles:
        role = message.roles.add(community_id=held.community_id, role=held.role, since=_timestamp(held.since))
        if held.until is not None:
            role.until.CopyFrom(_timestamp(held.until))
    return message


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
            period=_period(request.period),
            all_communities=request.all_communities,
        )
        return api.GetLeaderboardResponse(
            standings=[_standing(s) for s in view.standings], total_members=view.total_members
        )

    async def GetStanding(
        self, request: api.GetStandingRequest, context: grpc.aio.ServicerContext
    ) -> api.GetStandingResponse:
        view = await self._queries.standing(
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
        table = await self._rules.effective(current_principal(), request.community_id)
        return api.GetPointsRulesResponse(rules=_rules(table))

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

    async def GetInsights(
        self, request: api.GetInsightsRequest, context: grpc.aio.ServicerContext
    ) -> api.GetInsightsResponse:
        which = request.WhichOneof("scope")
        scope = Scope(which) if which else None
        scope_id = str(getattr(request, which)) if which else ""
        insights = await self._insights.insights(current_principal(), scope, scope_id, request.week)
        return api.GetInsightsResponse(insights=_insights(insights))

    async def GetGoalProgress(
        self, request: api.GetGoalProgressRequest, context: grpc.aio.ServicerContext
    ) -> api.GetGoalProgressResponse:
        value = await self._insights.goal_progress(
            current_principal(),
            request.community_id,
            _METRIC_FROM_PB.get(insights_pb.GoalMetric.ValueType(request.metric)),
            _optional_time(request, "since"),
            _optional_time(request, "until"),
        )
        return _goal(value)

    async def ComparePilot(
        self, request: api.ComparePilotRequest, context: grpc.aio.ServicerContext
    ) -> api.ComparePilotResponse:
        if self._pilots is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "pilot comparisons are not served here")
        assert self._pilots is not None
        comparison = await self._pilots.compare(
            current_principal(),
            request.community_id,
            _optional_time(request, "start_time"),
            _optional_time(request, "end_time"),
        )
        return api.ComparePilotResponse(comparison=_comparison(comparison))

    async def GetContributionSummary(
        self, request: api.GetContributionSummaryRequest, context: grpc.aio.ServicerContext
    ) -> api.GetContributionSummaryResponse:
        summary = await self._recognition.summary(
            current_principal(),
            request.member_id,
            _optional_time(request, "start_time"),
            _optional_time(request, "end_time"),
        )
        return api.GetContributionSummaryResponse(summary=_summary(summary))

    async def RequestContributionSummary(
        self, request: api.RequestContributionSummaryRequest, context: grpc.aio.ServicerContext
    ) -> api.RequestContributionSummaryResponse:
        summary_id, summary = await self._recognition.request(
            current_principal(),
            request.member_id,
            _optional_time(request, "start_time"),
            _optional_time(request, "end_time"),
            request.request_id,
        )
        return api.RequestContributionSummaryResponse(summary_id=summary_id, summary=_summary(summary))

    async def ListTopMembersByTag(
        self, request: api.ListTopMembersByTagRequest, context: grpc.aio.ServicerContext
    ) -> api.ListTopMembersByTagResponse:
        standings, token = await self._tags.top(
            current_principal(), request.community_id, request.tag, request.page_size, request.page_token
        )
        return api.ListTopMembersByTagResponse(
            standings=[_standing(s) for s in standings], next_page_token=token
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
            tier=_TIER_FROM_PB.get(badge_pb2.BadgeTier.ValueType(request.tier)),
            event_type=t.event_type,
            threshold=t.threshold,
            period=_BADGE_PERIOD_FROM_PB.get(badge_pb2.BadgePeriod.ValueType(t.period)),
            rolling_days=t.rolling_days,
            tag=t.tag,
            repeatable=request.repeatable,
            request_id=request.request_id,
        )
        return api.CreateBadgeDefinitionResponse(definition=_definition(definition))

    async def ListBadgeDefinitions(
        self, request: api.ListBadgeDefinitionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListBadgeDefinitionsResponse:
        definitions, token = await self._definitions.page(
            current_principal(),
            request.community_id,
            request.include_archived,
            request.page_size,
            request.page_token,
        )
        return api.ListBadgeDefinitionsResponse(
            definitions=[_definition(d) for d in definitions], next_page_token=token
        )

    async def ArchiveBadgeDefinition(
        self, request: api.ArchiveBadgeDefinitionRequest, context: grpc.aio.ServicerContext
    ) -> api.ArchiveBadgeDefinitionResponse:
        definition = await self._definitions.archive(current_principal(), request.definition_id)
        return api.ArchiveBadgeDefinitionResponse(definition=_definition(definition))

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

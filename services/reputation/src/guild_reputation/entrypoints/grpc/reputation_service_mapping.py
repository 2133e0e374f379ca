"""Protobuf messages of the ReputationService to and from domain values."""

from __future__ import annotations

from datetime import datetime, timedelta

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from guild.reputation.v1 import badge_pb2
from guild.reputation.v1 import cpd_pb2 as cpd_pb
from guild.reputation.v1 import insights_pb2 as insights_pb
from guild.reputation.v1 import leaderboard_pb2 as pb
from guild.reputation.v1 import points_rules_pb2 as rules_pb
from guild.reputation.v1 import recognition_pb2 as recognition_pb
from guild.reputation.v1 import reputation_service_pb2 as api
from guild_common.prototime import request_time, to_timestamp
from guild_reputation.domain.badges import Award, Tier
from guild_reputation.domain.cpd import CpdActivity, CpdCredit, CpdRules, CreditState, Totals
from guild_reputation.domain.custom_badges import BadgeDefinition, TemplatePeriod
from guild_reputation.domain.insights import GoalMetric, GoalValue, Insights, PostKind, pct
from guild_reputation.domain.leaderboard import Standing
from guild_reputation.domain.periods import PeriodKind
from guild_reputation.domain.pilot import ComparisonMetric, PilotComparison
from guild_reputation.domain.recognition import ContributionSummary
from guild_reputation.domain.rules import Rule, RuleSetting

PERIOD_FROM_PB = {
    pb.PERIOD_UNSPECIFIED: PeriodKind.ALL_TIME,
    pb.PERIOD_ALL_TIME: PeriodKind.ALL_TIME,
    pb.PERIOD_WEEK: PeriodKind.WEEK,
    pb.PERIOD_MONTH: PeriodKind.MONTH,
}


def standing_message(s: Standing) -> pb.Standing:
    return pb.Standing(member_id=s.member_id, points=s.points, rank=s.rank)


def period_from_pb(value: int) -> PeriodKind:
    # Unknown values from newer clients read as all time.
    return PERIOD_FROM_PB.get(pb.Period.ValueType(value), PeriodKind.ALL_TIME)


def rules_messages(table: dict[Rule, RuleSetting]) -> list[rules_pb.PointsRule]:
    return [
        rules_pb.PointsRule(rule=rule.value, points=s.points, daily_cap=s.daily_cap)
        for rule, s in table.items()
    ]


TIER_TO_PB = {
    Tier.BRONZE: badge_pb2.BADGE_TIER_BRONZE,
    Tier.SILVER: badge_pb2.BADGE_TIER_SILVER,
    Tier.GOLD: badge_pb2.BADGE_TIER_GOLD,
}


def award_message(a: Award) -> badge_pb2.BadgeAward:
    time = Timestamp()
    time.FromDatetime(a.time)
    return badge_pb2.BadgeAward(
        award_id=a.id,
        badge=a.badge,
        tier=TIER_TO_PB[a.tier],
        title=a.title,
        community_id=a.community_id,
        member_id=a.member_id,
        citation=a.citation,
        granted_by=a.granted_by,
        award_time=time,
        definition_id=a.definition_id,
        description=a.description,
    )


TIER_FROM_PB = {
    badge_pb2.BADGE_TIER_UNSPECIFIED: Tier.BRONZE,
    **{value: tier for tier, value in TIER_TO_PB.items()},
}
BADGE_PERIOD_FROM_PB = {
    badge_pb2.BADGE_PERIOD_UNSPECIFIED: TemplatePeriod.ALL_TIME,
    badge_pb2.BADGE_PERIOD_ALL_TIME: TemplatePeriod.ALL_TIME,
    badge_pb2.BADGE_PERIOD_WEEK: TemplatePeriod.WEEK,
    badge_pb2.BADGE_PERIOD_MONTH: TemplatePeriod.MONTH,
    badge_pb2.BADGE_PERIOD_ROLLING_DAYS: TemplatePeriod.ROLLING_DAYS,
}
BADGE_PERIOD_TO_PB = {
    period: value
    for value, period in BADGE_PERIOD_FROM_PB.items()
    if value != badge_pb2.BADGE_PERIOD_UNSPECIFIED
}


def definition_message(d: BadgeDefinition) -> badge_pb2.BadgeDefinition:
    t = d.template
    message = badge_pb2.BadgeDefinition(
        definition_id=d.id,
        community_id=d.community_id,
        title=d.title,
        description=d.description,
        tier=TIER_TO_PB[d.tier],
        template=badge_pb2.BadgeTemplate(
            event_type=t.event_type.value,
            threshold=t.threshold,
            period=BADGE_PERIOD_TO_PB[t.period],
            rolling_days=t.rolling_days,
            tag=t.tag,
        ),
        repeatable=d.repeatable,
        archived=d.archived,
        created_by=d.created_by,
        create_time=to_timestamp(d.create_time),
    )
    if d.archive_time is not None:
        message.archive_time.CopyFrom(to_timestamp(d.archive_time))
    return message


METRIC_FROM_PB = {insights_pb.GoalMetric.Value(f"GOAL_METRIC_{metric.name}"): metric for metric in GoalMetric}
METRIC_TO_PB = {metric: value for value, metric in METRIC_FROM_PB.items()}


def optional_time(message: Message, name: str) -> datetime | None:
    return request_time(message, name)


COMPARISON_TO_PB: dict[ComparisonMetric, insights_pb.ComparisonMetric.ValueType] = {
    ComparisonMetric.PARTICIPATION_PCT: insights_pb.COMPARISON_METRIC_PARTICIPATION_PCT,
    ComparisonMetric.QUESTIONS_ANSWERED_PCT: insights_pb.COMPARISON_METRIC_QUESTIONS_ANSWERED_PCT,
    ComparisonMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS: (
        insights_pb.COMPARISON_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS
    ),
}


def comparison_message(c: PilotComparison) -> insights_pb.PilotComparison:
    metrics = []
    for m in c.metrics:
        d = m.difference
        message = insights_pb.MetricComparison(
            metric=COMPARISON_TO_PB[m.metric],
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
        start_time=to_timestamp(c.start),
        end_time=to_timestamp(c.end),
        metrics=metrics,
    )


def insights_message(i: Insights) -> insights_pb.Insights:
    q = i.questions
    message = insights_pb.Insights(
        week=i.week,
        week_start=to_timestamp(i.week_start),
        as_of=to_timestamp(i.as_of),
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


def goal_response(g: GoalValue) -> api.GetGoalProgressResponse:
    return api.GetGoalProgressResponse(
        metric=METRIC_TO_PB[g.metric],
        value=g.value,
        sample_size=g.sample_size,
        since=to_timestamp(g.since),
        until=to_timestamp(g.until),
    )


def summary_message(c: ContributionSummary) -> recognition_pb.ContributionSummary:
    message = recognition_pb.ContributionSummary(
        member_id=c.member_id,
        start_time=to_timestamp(c.start),
        end_time=to_timestamp(c.end),
        questions=c.questions,
        answers=c.answers,
        accepted_answers=c.accepted_answers,
        comments=c.comments,
        resources_shared=c.resources_shared,
        resource_average_rating=c.resource_average_rating,
        resource_ratings=c.resource_ratings,
        badges=[award_message(a) for a in c.badges],
        top_tags=[recognition_pb.TagCount(tag=tag, count=count) for tag, count in c.top_tags],
        community_ids=c.community_ids,
        collections_curated=c.collections_curated,
    )
    for held in c.roles:
        role = message.roles.add(
            community_id=held.community_id, role=held.role, since=to_timestamp(held.since)
        )
        if held.until is not None:
            role.until.CopyFrom(to_timestamp(held.until))
    return message


ACTIVITY_TO_PB = {
    CpdActivity.ANSWER_ACCEPTED: cpd_pb.CPD_ACTIVITY_ANSWER_ACCEPTED,
    CpdActivity.RESOURCE_REVIEWED: cpd_pb.CPD_ACTIVITY_RESOURCE_REVIEWED,
    CpdActivity.REFLECTION_SURVEY: cpd_pb.CPD_ACTIVITY_REFLECTION_SURVEY,
    CpdActivity.COLLECTION_PUBLISHED: cpd_pb.CPD_ACTIVITY_COLLECTION_PUBLISHED,
}
ACTIVITY_FROM_PB = {value: activity for activity, value in ACTIVITY_TO_PB.items()}
STATE_TO_PB = {
    CreditState.PENDING: cpd_pb.CPD_CREDIT_STATE_PENDING_REFLECTION,
    CreditState.RESERVING: cpd_pb.CPD_CREDIT_STATE_PENDING_REFLECTION,
    CreditState.COUNTED: cpd_pb.CPD_CREDIT_STATE_COUNTED,
    CreditState.OVER_CAP: cpd_pb.CPD_CREDIT_STATE_OVER_CAP,
}
FORMAT_FROM_PB = {
    cpd_pb.CPD_EXPORT_FORMAT_UNSPECIFIED: "csv",
    cpd_pb.CPD_EXPORT_FORMAT_CSV: "csv",
    cpd_pb.CPD_EXPORT_FORMAT_HTML: "html",
}


def rules_message(community_id: str, rules: CpdRules | None) -> cpd_pb.CpdRules:
    if rules is None:
        return cpd_pb.CpdRules(community_id=community_id, enabled=False)
    message = cpd_pb.CpdRules(
        community_id=rules.community_id,
        activities=[
            cpd_pb.CpdActivityRule(activity=ACTIVITY_TO_PB[a], minutes=m)
            for a in CpdActivity
            if (m := rules.minutes.get(a))
        ],
        year_cap_minutes=rules.year_cap,
        month_cap_minutes=rules.month_cap,
        reflection_required=rules.reflection_required,
        year_start_month=rules.year_start_month,
        updated_by=rules.updated_by,
        enabled=True,
        time_zone=rules.time_zone,
    )
    if rules.update_time is not None:
        message.update_time.CopyFrom(to_timestamp(rules.update_time))
    return message


def credit_message(c: CpdCredit) -> cpd_pb.CpdCredit:
    message = cpd_pb.CpdCredit(
        credit_id=c.id,
        community_id=c.community_id,
        member_id=c.member_id,
        activity=ACTIVITY_TO_PB[c.activity],
        minutes=c.minutes,
        state=STATE_TO_PB[c.state],
        cpd_year=c.cpd_year,
        activity_time=to_timestamp(c.time),
        description=c.description,
        evidence_url=c.evidence_url,
        target_id=c.target_id,
    )
    if c.reflection is not None:
        message.reflection.CopyFrom(
            cpd_pb.CpdReflection(
                learned=c.reflection.learned,
                practice_change=c.reflection.practice_change,
                reflect_time=to_timestamp(c.reflection.time),
            )
        )
    return message


def totals_message(t: Totals) -> cpd_pb.CpdTotals:
    return cpd_pb.CpdTotals(
        counted_minutes=t.counted_minutes,
        pending_minutes=t.pending_minutes,
        counted_credits=t.counted_credits,
        pending_credits=t.pending_credits,
        over_cap_credits=t.over_cap_credits,
        by_activity=[
            cpd_pb.CpdActivityMinutes(activity=ACTIVITY_TO_PB[a], minutes=m) for a, m in t.by_activity
        ],
    )

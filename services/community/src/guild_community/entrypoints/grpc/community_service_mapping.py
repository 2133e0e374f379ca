"""Protobuf <-> domain mapping for the community API.

About 400 lines: the messages of one proto service of 43 RPCs (communities, people, surveys, goals,
experts)."""

from __future__ import annotations

from collections.abc import Sequence

from guild.community.v1 import community_pb2 as pb
from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import expert_pb2 as epb
from guild.community.v1 import goal_pb2 as gpb
from guild.community.v1 import survey_pb2 as spb
from guild_common.errors import FieldViolation, InvalidArgument
from guild_common.prototime import to_timestamp as timestamp
from guild_community.app.membership import EnrolmentFailure, EnrolmentResult, InvitationResult
from guild_community.domain.communities import (
    AUTO_HIDE_DEFAULT,
    Community,
    CommunityPatch,
    Lifecycle,
    Visibility,
)
from guild_community.domain.experts import Expert
from guild_community.domain.goals import Goal, GoalMetric, GoalProgress, GoalStatus
from guild_community.domain.membership import Invitation, JoinRequest, Membership, Role
from guild_community.domain.people import Follow, Profile, ProfilePatch
from guild_community.domain.pilot import ComparisonMetric, PilotComparison, PilotControl
from guild_community.domain.surveys import Answer, QuestionResult, QuestionType, Survey, SurveyState

ROLE_TO_PB = {
    Role.MEMBER: pb.ROLE_MEMBER,
    Role.CHAMPION: pb.ROLE_CHAMPION,
    Role.CURATOR: pb.ROLE_CURATOR,
    Role.MODERATOR: pb.ROLE_MODERATOR,
    Role.OWNER: pb.ROLE_OWNER,
}
ROLE_FROM_PB = {v: k for k, v in ROLE_TO_PB.items()}
VISIBILITY_TO_PB = {
    Visibility.OPEN: pb.VISIBILITY_OPEN,
    Visibility.REQUEST_TO_JOIN: pb.VISIBILITY_REQUEST_TO_JOIN,
    Visibility.INVITE_ONLY: pb.VISIBILITY_INVITE_ONLY,
    Visibility.HIDDEN: pb.VISIBILITY_HIDDEN,
}
VISIBILITY_FROM_PB = {v: k for k, v in VISIBILITY_TO_PB.items()}
LIFECYCLE_TO_PB = {
    Lifecycle.DRAFT: pb.LIFECYCLE_DRAFT,
    Lifecycle.PILOT: pb.LIFECYCLE_PILOT,
    Lifecycle.LIVE: pb.LIFECYCLE_LIVE,
    Lifecycle.ARCHIVED: pb.LIFECYCLE_ARCHIVED,
}

LIFECYCLE_FROM_PB = {v: k for k, v in LIFECYCLE_TO_PB.items()}
SETTINGS_PATHS = ("settings.auto_hide_flag_threshold", "settings.pilot_cap")
UPDATE_PATHS = frozenset({"name", "description", "visibility", "settings", *SETTINGS_PATHS})


def visibility_from_pb(value: int) -> Visibility:
    if value == pb.VISIBILITY_UNSPECIFIED:
        return Visibility.OPEN
    try:
        return VISIBILITY_FROM_PB[value]  # type: ignore[index]
    except KeyError as exc:
        raise InvalidArgument(
            "unknown visibility", violations=[FieldViolation("visibility", "unknown value")]
        ) from exc


def visibility_filter_from_pb(value: int) -> Visibility | None:
    return None if value == pb.VISIBILITY_UNSPECIFIED else visibility_from_pb(value)


def lifecycle_from_pb(value: int, field: str = "lifecycle") -> Lifecycle:
    try:
        return LIFECYCLE_FROM_PB[value]  # type: ignore[index]
    except KeyError as exc:
        raise InvalidArgument(
            "unknown lifecycle", violations=[FieldViolation(field, "unknown value")]
        ) from exc


def lifecycle_filter_from_pb(value: int) -> Lifecycle | None:
    return None if value == pb.LIFECYCLE_UNSPECIFIED else lifecycle_from_pb(value)


def initial_lifecycle_from_pb(value: int) -> Lifecycle:
    return Lifecycle.LIVE if value == pb.LIFECYCLE_UNSPECIFIED else lifecycle_from_pb(value)


def settings_from_pb(request: api.CreateCommunityRequest) -> tuple[int, int]:
    """(auto-hide threshold, pilot cap) with defaults for unset fields."""
    if not request.HasField("settings"):
        return AUTO_HIDE_DEFAULT, 0
    threshold = request.settings.auto_hide_flag_threshold or AUTO_HIDE_DEFAULT
    return threshold, request.settings.pilot_cap


def patch_from_pb(request: api.UpdateCommunityRequest) -> CommunityPatch:
    paths = list(request.update_mask.paths)
    unknown = [p for p in paths if p not in UPDATE_PATHS]
    if unknown or not paths:
        detail = f"unknown paths: {', '.join(unknown)}" if unknown else "must name at least one field"
        raise InvalidArgument(
            "invalid update_mask",
            violations=[
                FieldViolation("update_mask", f"{detail}; allowed: {', '.join(sorted(UPDATE_PATHS))}")
            ],
        )
    wanted = set(paths)
    if "settings" in wanted:
        wanted.update(SETTINGS_PATHS)
    c = request.community
    return CommunityPatch(
        name=c.name if "name" in wanted else None,
        description=c.description if "description" in wanted else None,
        visibility=visibility_from_pb(c.visibility) if "visibility" in wanted else None,
        auto_hide_flag_threshold=(
            c.settings.auto_hide_flag_threshold if "settings.auto_hide_flag_threshold" in wanted else None
        ),
        pilot_cap=c.settings.pilot_cap if "settings.pilot_cap" in wanted else None,
    )


def role_from_pb(value: int) -> Role | None:
    """A requested role; None when unspecified (use cases reject it)."""
    return role_filter_from_pb(value)


def role_filter_from_pb(value: int) -> Role | None:
    if value == pb.ROLE_UNSPECIFIED:
        return None
    try:
        return ROLE_FROM_PB[value]  # type: ignore[index]
    except KeyError as exc:
        raise InvalidArgument("unknown role", violations=[FieldViolation("role", "unknown value")]) from exc


def community_to_pb(c: Community) -> pb.Community:
    return pb.Community(
        id=c.id,
        slug=c.slug,
        name=c.name,
        description=c.description,
        programme=c.programme,
        region=c.region,
        visibility=VISIBILITY_TO_PB[c.visibility],
        lifecycle=LIFECYCLE_TO_PB[c.lifecycle],
        create_time=timestamp(c.create_time),
        created_by=c.created_by,
        member_count=c.member_count,
        settings=pb.CommunitySettings(
            auto_hide_flag_threshold=c.auto_hide_flag_threshold, pilot_cap=c.pilot_cap
        ),
    )


def member_to_pb(m: Membership) -> pb.Member:
    return pb.Member(
        community_id=m.community_id,
        member_id=m.member_id,
        role=ROLE_TO_PB[m.role],
        join_time=timestamp(m.join_time),
    )


def join_request_to_pb(r: JoinRequest) -> pb.JoinRequest:
    return pb.JoinRequest(
        community_id=r.community_id, member_id=r.member_id, create_time=timestamp(r.create_time)
    )


def invitation_to_pb(i: Invitation) -> pb.Invitation:
    return pb.Invitation(
        community_id=i.community_id,
        member_id=i.member_id,
        invited_by=i.invited_by,
        create_time=timestamp(i.create_time),
    )


def _failures_to_pb(failures: list[EnrolmentFailure]) -> list[api.EnrolmentFailure]:
    return [api.EnrolmentFailure(index=f.index, member_id=f.member_id, reason=f.reason) for f in failures]


def enrolment_to_pb(result: EnrolmentResult) -> api.EnrolCohortResponse:
    return api.EnrolCohortResponse(
        enrolled_count=result.enrolled,
        already_member_count=result.already_members,
        member_count=result.member_count,
        failures=_failures_to_pb(result.failures),
    )


def invitations_to_pb(result: InvitationResult) -> api.InviteCohortResponse:
    return api.InviteCohortResponse(
        invited_count=result.invited,
        already_member_count=result.already_members,
        already_invited_count=result.already_invited,
        failures=_failures_to_pb(result.failures),
    )


PROFILE_PATHS = ("display_name", "job_title", "department", "region", "bio", "expertise", "interests")


def profile_patch_from_pb(request: api.UpdateProfileRequest) -> ProfilePatch:
    paths = list(request.update_mask.paths)
    unknown = [p for p in paths if p not in PROFILE_PATHS]
    if unknown or not paths:
        detail = f"unknown paths: {', '.join(unknown)}" if unknown else "must name at least one field"
        raise InvalidArgument(
            "invalid update_mask",
            violations=[FieldViolation("update_mask", f"{detail}; allowed: {', '.join(PROFILE_PATHS)}")],
        )
    p = request.profile
    return ProfilePatch(
        display_name=p.display_name if "display_name" in paths else None,
        job_title=p.job_title if "job_title" in paths else None,
        department=p.department if "department" in paths else None,
        region=p.region if "region" in paths else None,
        bio=p.bio if "bio" in paths else None,
        expertise=list(p.expertise) if "expertise" in paths else None,
        interests=list(p.interests) if "interests" in paths else None,
    )


def profile_to_pb(p: Profile) -> pb.Profile:
    message = pb.Profile(
        member_id=p.member_id,
        display_name=p.display_name,
        job_title=p.job_title,
        department=p.department,
        region=p.region,
        bio=p.bio,
        expertise=p.expertise,
        interests=p.interests,
        follower_count=p.follower_count,
        following_count=p.following_count,
    )
    if p.update_time is not None:
        message.update_time.CopyFrom(timestamp(p.update_time))
    return message


def follow_to_pb(f: Follow) -> pb.Follow:
    return pb.Follow(
        follower_id=f.follower_id, followee_id=f.followee_id, create_time=timestamp(f.create_time)
    )


QUESTION_TYPE_TO_PB = {
    QuestionType.RATING: spb.QUESTION_TYPE_RATING,
    QuestionType.NPS: spb.QUESTION_TYPE_NPS,
    QuestionType.SINGLE_CHOICE: spb.QUESTION_TYPE_SINGLE_CHOICE,
    QuestionType.MULTIPLE_CHOICE: spb.QUESTION_TYPE_MULTIPLE_CHOICE,
    QuestionType.FREE_TEXT: spb.QUESTION_TYPE_FREE_TEXT,
}
QUESTION_TYPE_FROM_PB = {v: k for k, v in QUESTION_TYPE_TO_PB.items()}
SURVEY_STATE_TO_PB = {
    SurveyState.DRAFT: spb.SURVEY_STATE_DRAFT,
    SurveyState.OPEN: spb.SURVEY_STATE_OPEN,
    SurveyState.CLOSED: spb.SURVEY_STATE_CLOSED,
}


def questions_from_pb(
    questions: Sequence[spb.Question],
) -> list[tuple[str, QuestionType | None, list[str]]]:
    return [(q.text, QUESTION_TYPE_FROM_PB.get(q.type), list(q.options)) for q in questions]


def answers_from_pb(answers: Sequence[spb.Answer]) -> list[Answer]:
    return [Answer(a.question_id, a.score, tuple(a.choices), a.text) for a in answers]


def survey_to_pb(s: Survey) -> spb.Survey:
    message = spb.Survey(
        id=s.id,
        community_id=s.community_id,
        title=s.title,
        questions=[
            spb.Question(id=q.id, text=q.text, type=QUESTION_TYPE_TO_PB[q.type], options=list(q.options))
            for q in s.questions
        ],
        state=SURVEY_STATE_TO_PB[s.state],
        created_by=s.created_by,
        create_time=timestamp(s.create_time),
        response_count=s.response_count,
    )
    if s.open_time is not None:
        message.open_time.CopyFrom(timestamp(s.open_time))
    if s.close_time is not None:
        message.close_time.CopyFrom(timestamp(s.close_time))
    return message


def result_to_pb(r: QuestionResult) -> spb.QuestionResult:
    return spb.QuestionResult(
        question_id=r.question_id,
        answer_count=r.answer_count,
        average=r.average,
        distribution=r.distribution,
        net_promoter_score=r.net_promoter_score,
    )


GOAL_METRIC_TO_PB = {
    GoalMetric.WEEKLY_ACTIVE_MEMBERS_PCT: gpb.GOAL_METRIC_WEEKLY_ACTIVE_MEMBERS_PCT,
    GoalMetric.QUESTIONS_ANSWERED_WITHIN_24H_PCT: gpb.GOAL_METRIC_QUESTIONS_ANSWERED_WITHIN_24H_PCT,
    GoalMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS: gpb.GOAL_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS,
    GoalMetric.CONTRIBUTORS_PCT: gpb.GOAL_METRIC_CONTRIBUTORS_PCT,
    GoalMetric.NEW_STARTERS_ASKED_WITHIN_30_DAYS_PCT: gpb.GOAL_METRIC_NEW_STARTERS_ASKED_WITHIN_30_DAYS_PCT,
}
GOAL_METRIC_FROM_PB: dict[int, GoalMetric] = {int(v): k for k, v in GOAL_METRIC_TO_PB.items()}


def goal_metric_from_pb(value: int) -> GoalMetric | None:
    """None for unspecified or unknown values (the domain reports the field)."""
    return GOAL_METRIC_FROM_PB.get(value)


def goal_to_pb(g: Goal) -> gpb.Goal:
    return gpb.Goal(
        id=g.id,
        community_id=g.community_id,
        metric=GOAL_METRIC_TO_PB[g.metric],
        target=g.target,
        deadline=timestamp(g.deadline),
        set_in_lifecycle=LIFECYCLE_TO_PB[g.set_in_lifecycle],
        created_by=g.created_by,
        create_time=timestamp(g.create_time),
    )


def expert_to_pb(e: Expert) -> epb.Expert:
    return epb.Expert(
        member_id=e.member_id,
        display_name=e.display_name,
        job_title=e.job_title,
        declared=e.declared,
        points=e.points,
        score=e.score,
    )


GOAL_STATUS_TO_PB = {
    GoalStatus.UNKNOWN: gpb.GOAL_STATUS_UNKNOWN,
    GoalStatus.ON_TRACK: gpb.GOAL_STATUS_ON_TRACK,
    GoalStatus.BEHIND: gpb.GOAL_STATUS_BEHIND,
    GoalStatus.ACHIEVED: gpb.GOAL_STATUS_ACHIEVED,
    GoalStatus.MISSED: gpb.GOAL_STATUS_MISSED,
}


def goal_progress_to_pb(p: GoalProgress) -> gpb.GoalProgress:
    return gpb.GoalProgress(
        goal=goal_to_pb(p.goal),
        current_value=p.measurement.value,
        sample_size=p.measurement.sample_size,
        status=GOAL_STATUS_TO_PB[p.status],
        since=timestamp(p.measurement.since),
        until=timestamp(p.measurement.until),
    )


COMPARISON_METRIC_TO_PB: dict[ComparisonMetric, gpb.ComparisonMetric.ValueType] = {
    ComparisonMetric.PARTICIPATION_PCT: gpb.COMPARISON_METRIC_PARTICIPATION_PCT,
    ComparisonMetric.QUESTIONS_ANSWERED_PCT: gpb.COMPARISON_METRIC_QUESTIONS_ANSWERED_PCT,
    ComparisonMetric.MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS: (
        gpb.COMPARISON_METRIC_MEDIAN_TIME_TO_FIRST_ANSWER_SECONDS
    ),
}


def pilot_control_to_pb(c: PilotControl, member_ids: Sequence[str]) -> gpb.PilotControl:
    return gpb.PilotControl(
        community_id=c.community_id,
        control_community_id=c.control_community_id,
        control_member_ids=list(member_ids),
        control_member_count=len(c.control_member_ids),
        set_by=c.set_by,
        set_time=timestamp(c.set_time),
        version=c.version,
    )


def pilot_comparison_to_pb(c: PilotComparison) -> gpb.PilotComparison:
    metrics = []
    for m in c.metrics:
        message = gpb.MetricComparison(
            metric=COMPARISON_METRIC_TO_PB[m.metric],
            pilot_value=m.pilot_value,
            control_value=m.control_value,
            difference=m.difference,
            pilot_sample_size=m.pilot_sample_size,
            control_sample_size=m.control_sample_size,
            interval_method=m.interval_method,
        )
        if m.interval is not None:
            message.has_interval = True
            message.interval_low, message.interval_high = m.interval
        metrics.append(message)
    return gpb.PilotComparison(
        control_community_id=c.control_community_id,
        control_member_count=c.control_member_count,
        since=timestamp(c.since),
        until=timestamp(c.until),
        metrics=metrics,
    )

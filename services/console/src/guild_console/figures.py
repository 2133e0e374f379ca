"""Protobuf answers as the JSON the page draws: plain numbers, short enum names, ISO times."""

from __future__ import annotations

from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from guild.community.v1 import community_pb2, goal_pb2
from guild.reputation.v1 import cpd_pb2, insights_pb2, leaderboard_pb2

Json = dict[str, Any]


def enum_name(enum: Any, value: int, prefix: str) -> str:
    """``VISIBILITY_HIDDEN`` -> ``hidden``; an unknown number -> ``unspecified``."""
    try:
        name: str = enum.Name(value)
    except ValueError:
        return "unspecified"
    return name.removeprefix(prefix).lower()


def iso(ts: Timestamp) -> str | None:
    return ts.ToJsonString() if ts.seconds or ts.nanos else None


def seconds(d: Duration) -> float:
    return d.seconds + d.nanos / 1e9


def community(c: community_pb2.Community) -> Json:
    return {
        "id": c.id,
        "name": c.name,
        "programme": c.programme,
        "region": c.region,
        "visibility": enum_name(community_pb2.Visibility, c.visibility, "VISIBILITY_"),
        "lifecycle": enum_name(community_pb2.Lifecycle, c.lifecycle, "LIFECYCLE_"),
        "member_count": c.member_count,
    }


def week(i: insights_pb2.Insights) -> Json:
    answered = i.HasField("median_time_to_first_answer")
    return {
        "week": i.week,
        "members": i.members,
        "active_members_7_days": i.active_members_7_days,
        "active_members_30_days": i.active_members_30_days,
        "contributors": i.contributors,
        "contributors_pct": i.contributors_pct,
        "questions": i.posts.questions,
        "answers": i.posts.answers,
        "comments": i.posts.comments,
        "resources": i.posts.resources,
        "questions_asked": i.questions_asked,
        "questions_answered": i.questions_answered,
        "questions_answered_pct": i.questions_answered_pct,
        "answered_within_24h_pct": i.answered_within_24h_pct,
        "median_hours_to_first_answer": seconds(i.median_time_to_first_answer) / 3600 if answered else None,
    }


def goal(p: goal_pb2.GoalProgress) -> Json:
    g = p.goal
    return {
        "id": g.id,
        "metric": enum_name(goal_pb2.GoalMetric, g.metric, "GOAL_METRIC_"),
        "target": g.target,
        "deadline": iso(g.deadline),
        "current_value": p.current_value,
        "sample_size": p.sample_size,
        "status": enum_name(goal_pb2.GoalStatus, p.status, "GOAL_STATUS_"),
    }


def pilot(c: insights_pb2.PilotComparison) -> Json:
    return {
        "control_community_id": c.control_community_id,
        "control_member_count": c.control_member_count,
        "start_time": iso(c.start_time),
        "end_time": iso(c.end_time),
        "metrics": [
            {
                "metric": enum_name(insights_pb2.ComparisonMetric, m.metric, "COMPARISON_METRIC_"),
                "pilot_value": m.pilot_value,
                "control_value": m.control_value,
                "difference": m.difference,
                "interval": [m.interval_low, m.interval_high] if m.has_interval else None,
                "pilot_sample_size": m.pilot_sample_size,
                "control_sample_size": m.control_sample_size,
                "interval_method": m.interval_method,
            }
            for m in c.metrics
        ],
    }


def standing(s: leaderboard_pb2.Standing) -> Json:
    return {"member_id": s.member_id, "points": s.points, "rank": s.rank}


def cpd_total(t: cpd_pb2.CpdMemberTotal) -> Json:
    return {
        "member_id": t.member_id,
        "counted_minutes": t.counted_minutes,
        "counted_credits": t.counted_credits,
    }

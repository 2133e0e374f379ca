"""Reputation service settings."""

from __future__ import annotations

from pydantic import Field

from guild_common.settings import ServiceSettings


class ReputationSettings(ServiceSettings):
    service_name: str = "reputation"
    grpc_port: int = 50053
    points_question_asked: int = 2
    points_answer_posted: int = 5
    points_answer_accepted: int = 15
    points_upvote_received: int = 10
    # Most points one member can earn by a rule in a day, per community (JSON object; 0 or absent: no cap).
    points_daily_cap: dict[str, int] = Field(default_factory=lambda: {"upvote_received": 200})
    # Time zone of the calendar weeks and months of the leaderboards, and of the daily caps.
    leaderboard_timezone: str = "UTC"
    # The community service, asked when the local role read model has not heard of someone yet.
    community_addr: str = "127.0.0.1:50051"

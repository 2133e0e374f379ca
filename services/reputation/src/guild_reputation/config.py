"""Reputation service settings."""

from __future__ import annotations

from guild_common.settings import ServiceSettings


class ReputationSettings(ServiceSettings):
    service_name: str = "reputation"
    grpc_port: int = 50053
    points_question_asked: int = 2
    points_answer_posted: int = 5
    points_answer_accepted: int = 15

"""Community service settings."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from guild_common.settings import ServiceSettings


class CommunitySettings(ServiceSettings):
    secret_fields: ClassVar[tuple[str, ...]] = (*ServiceSettings.secret_fields, "service_token")
    service_name: str = "community"
    grpc_port: int = 50051
    # Regions communities may be placed in.
    regions: list[str] = Field(default_factory=lambda: ["emea", "amer", "apac"])
    # The reputation service, asked for the current value of goal metrics (GetGoalReport).
    reputation_addr: str = "127.0.0.1:50053"

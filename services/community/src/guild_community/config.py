"""Community service settings."""

from __future__ import annotations

from guild_common.settings import ServiceSettings
from pydantic import Field


class CommunitySettings(ServiceSettings):
    service_name: str = "community"
    grpc_port: int = 50051
    # Regions communities may be placed in.
    regions: list[str] = Field(default_factory=lambda: ["emea", "amer", "apac"])

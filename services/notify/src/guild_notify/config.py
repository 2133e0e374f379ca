"""Notify service settings."""

from __future__ import annotations

from guild_common.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    service_name: str = "notify"
    grpc_port: int = 50054

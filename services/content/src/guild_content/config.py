"""Content service settings."""

from __future__ import annotations

from typing import ClassVar

from guild_common.settings import ServiceSettings


class ContentSettings(ServiceSettings):
    secret_fields: ClassVar[tuple[str, ...]] = (*ServiceSettings.secret_fields, "service_token")
    service_name: str = "content"
    grpc_port: int = 50052
    # The community service, asked when the local membership read model has not heard of someone yet.
    community_addr: str = "127.0.0.1:50051"
    # Distinct flags that hide a post pending review.
    flag_threshold: int = 3
    # Questions unanswered this long join the champions' and curators' queue.
    unanswered_after_minutes: float = 24 * 60

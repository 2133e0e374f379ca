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
    # A membership known locally is confirmed with the community service again once this old, so a
    # removal or ban takes effect within it even while the events that carry it are delayed (NATS down).
    # 0 leaves the decision to the read model alone.
    membership_recheck_seconds: float = 10.0
    # Distinct flags that hide a post pending review.
    flag_threshold: int = 3
    # Questions unanswered this long join the champions' and curators' queue.
    unanswered_after_minutes: float = 24 * 60
    # Suggest questions meaning the same by their meaning vectors (the model ships with the service);
    # off, only the keyword hints are given.
    similar_by_meaning: bool = True

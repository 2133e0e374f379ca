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
    # Before a write, a membership the read model has not had confirmed (by a membership event or the
    # community service) for this long is checked with the community service, failing closed (UNAVAILABLE)
    # when it does not answer: a ban held up with the events takes effect within this bound. 0: trust the
    # read model alone.
    membership_max_age_seconds: float = 60.0
    # Distinct flags that hide a post pending review.
    flag_threshold: int = 3
    # Questions unanswered this long join the champions' and curators' queue.
    unanswered_after_minutes: float = 24 * 60

"""Settings read from the environment (``GUILD_*``); OpenTelemetry reads its own ``OTEL_*``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from guild_common.pagination import DEV_PAGE_TOKEN_SECRET


class ServiceSettings(BaseSettings):
    """Settings every service shares. Services subclass it to add their own."""

    model_config = SettingsConfigDict(env_prefix="GUILD_", extra="ignore")

    #: Secret settings a production profile requires set and not left at their development default
    #: (see :mod:`guild_common.profile`); services that hold more extend it. ``jwt_secret`` is checked
    #: only while no public key verifies tokens.
    secret_fields: ClassVar[tuple[str, ...]] = ("jwt_secret", "page_token_secret")

    # ``production`` refuses to start on an empty or development-default secret.
    profile: Literal["local", "production"] = "local"
    service_name: str = "guild"
    grpc_host: str = "[::]"
    grpc_port: int = 50051
    mongo_uri: str = "mongodb://127.0.0.1:27017"
    # Empty means ``guild_<service>``.
    mongo_db: str = ""
    # Seconds an operation waits for a reachable MongoDB before it fails (as UNAVAILABLE to callers).
    mongo_timeout_seconds: float = 1.0
    nats_url: str = "nats://127.0.0.1:4222"
    # This service's NATS user and password (deploy/local writes them; Kubernetes reads them from a Secret),
    # or a credentials file (JWT and nkey seed) instead. Empty connects without credentials.
    nats_user: str = ""
    nats_password: str = ""
    nats_credentials_file: str = ""
    # Subject slice this deployment consumes: ``*`` takes every region or programme.
    region_filter: str = "*"
    programme_filter: str = "*"
    # HS256 shared secret for local development; production sets jwt_public_key (RS256).
    jwt_secret: str = "guild-dev-secret-change-me-in-production"
    jwt_public_key: str = ""
    jwt_issuer: str = "guild"
    jwt_audience: str = "guild"
    # Token this service presents when it calls another service on its own behalf.
    service_token: str = ""
    # Signs page tokens (HMAC-SHA256); the same on every replica of a service.
    page_token_secret: str = DEV_PAGE_TOKEN_SECRET
    log_level: str = "info"
    # Per caller and per replica (service principals and health/reflection exempt): open server streams
    # (0: no cap) and calls a second with bursts of ``rate_limit_burst`` (a rate of 0: no limit).
    max_streams_per_principal: int = 8
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 100
    shutdown_grace_seconds: float = 10.0
    outbox_sweep_seconds: float = 2.0
    # Full sweeps of every outbox collection, besides publishing each written document when woken.
    outbox_full_sweep_seconds: float = 30.0
    consumer_max_deliver: int = 6
    # Messages fetched at once, and handled at once (same-subject messages always one after another).
    consumer_batch_size: int = 64
    consumer_concurrency: int = 1
    consumer_backoff_seconds: list[float] = Field(default_factory=lambda: [0.5, 2.0, 5.0, 15.0, 30.0])
    # Days a stream keeps events for consumers to replay.
    stream_max_age_days: float = 7.0
    stream_duplicate_window_seconds: float = 300.0
    # Copies of each stream kept by a NATS cluster (3 in production, 1 for a single server).
    stream_replicas: int = 1

    @property
    def database_name(self) -> str:
        return self.mongo_db or f"guild_{self.service_name}"

"""Settings read from the environment (``GUILD_*``); OpenTelemetry reads its own ``OTEL_*``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from guild_common.pagination import DEV_PAGE_TOKEN_SECRET

#: The transports a service opens, in the names ``allow_plaintext`` takes.
TRANSPORTS = ("grpc", "nats", "mongo")


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
    # gRPC TLS (docs/security.md, "Transport encryption"). With a certificate and its key the server
    # listens with TLS only, and calls to other services use TLS, presenting the same certificate (the
    # client half of mutual TLS) and verifying the server against ``grpc_tls_ca_file`` (empty: the system
    # roots). ``require`` makes the server refuse a client without a certificate signed by that CA.
    grpc_tls_cert_file: str = ""
    grpc_tls_key_file: str = ""
    grpc_tls_ca_file: str = ""
    grpc_tls_client_auth: Literal["none", "require"] = "none"
    # A plaintext port answering grpc.health.v1 alone (no RPCs, no reflection), for probes that cannot
    # speak TLS such as the kubelet's gRPC probes; 0: none.
    grpc_health_port: int = 0
    mongo_uri: str = "mongodb://127.0.0.1:27017"
    # Empty means ``guild_<service>``.
    mongo_db: str = ""
    # Seconds an operation waits for a reachable MongoDB before it fails (as UNAVAILABLE to callers).
    mongo_timeout_seconds: float = 1.0
    # MongoDB TLS: on when ``mongo_tls`` is set, a file below is given, or the URI says ``tls=true``
    # (or is ``mongodb+srv://``). The CA verifies the server; the certificate-and-key file (one PEM) is
    # the client certificate a server that verifies clients asks for.
    mongo_tls: bool = False
    mongo_tls_ca_file: str = ""
    mongo_tls_certificate_key_file: str = ""
    nats_url: str = "nats://127.0.0.1:4222"
    # This service's NATS user and password (deploy/local writes them; Kubernetes reads them from a Secret),
    # or a credentials file (JWT and nkey seed) instead. Empty connects without credentials.
    nats_user: str = ""
    nats_password: str = ""
    nats_credentials_file: str = ""
    # NATS TLS: on when ``nats_tls`` is set, a file below is given, or the URL is ``tls://``. The CA
    # verifies the server (empty: the system roots); the certificate and key are the client certificate
    # a server with ``verify: true`` requires.
    nats_tls: bool = False
    nats_tls_ca_file: str = ""
    nats_tls_cert_file: str = ""
    nats_tls_key_file: str = ""
    # Transports the production profile lets run in plaintext, comma-separated from ``grpc``, ``nats``
    # and ``mongo``: for a service mesh (or another tunnel) that already encrypts and authenticates them.
    allow_plaintext: str = ""
    # Subject slice this deployment consumes: ``*`` takes every region or programme.
    region_filter: str = "*"
    programme_filter: str = "*"
    # HS256 shared secret for local development; production sets jwt_jwks_url (keys rotated by the
    # identity provider, chosen by ``kid``) or jwt_public_key (one RS256 key).
    jwt_secret: str = "guild-dev-secret-change-me-in-production"
    jwt_public_key: str = ""
    jwt_jwks_url: str = ""
    # The key set is refetched when this old, or early (at most this often) for an unknown ``kid``.
    jwt_jwks_max_age_seconds: float = 300.0
    jwt_jwks_min_refresh_seconds: float = 10.0
    jwt_jwks_timeout_seconds: float = 5.0
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
    # Open server streams of all callers together, per replica (0: no cap), and the longest a server
    # stream stays open: it then ends cleanly and the client opens a new one (0: no bound), so abandoned
    # or idle streams do not hold a replica's slots for ever.
    max_streams_total: int = 2000
    stream_max_seconds: float = 3600.0
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

    @field_validator("allow_plaintext")
    @classmethod
    def _known_transports(cls, value: str) -> str:
        unknown = {t.strip() for t in value.split(",") if t.strip()} - set(TRANSPORTS)
        if unknown:
            raise ValueError(f"unknown transports {sorted(unknown)}: choose from {', '.join(TRANSPORTS)}")
        return value

    @model_validator(mode="after")
    def _complete_tls(self) -> ServiceSettings:
        pairs = [
            ("grpc_tls_cert_file", "grpc_tls_key_file"),
            ("nats_tls_cert_file", "nats_tls_key_file"),
        ]
        for cert, key in pairs:
            if bool(getattr(self, cert)) != bool(getattr(self, key)):
                raise ValueError(f"GUILD_{cert.upper()} and GUILD_{key.upper()} go together")
        if self.grpc_tls_client_auth == "require" and not (self.grpc_tls_cert_file and self.grpc_tls_ca_file):
            raise ValueError(
                "GUILD_GRPC_TLS_CLIENT_AUTH=require needs GUILD_GRPC_TLS_CERT_FILE, GUILD_GRPC_TLS_KEY_FILE "
                "and GUILD_GRPC_TLS_CA_FILE"
            )
        return self

    @property
    def plaintext_allowed(self) -> frozenset[str]:
        """The transports ``allow_plaintext`` names."""
        return frozenset(t.strip() for t in self.allow_plaintext.split(",") if t.strip())

    @property
    def database_name(self) -> str:
        return self.mongo_db or f"guild_{self.service_name}"

"""Console settings from the environment (``GUILD_*``), in the services' style."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from guild_common.profile import InsecureSettings
from guild_common.settings import ServiceSettings
from guild_common.tls import grpc_tls_enabled

#: The page, its script and style, and ``vendor/`` (Chart.js, copied by ``make console-assets``).
STATIC_DIR = Path(__file__).parent / "static"


class ConsoleSettings(ServiceSettings):
    # The console holds no secret and opens no NATS or MongoDB connection: it forwards viewers' tokens.
    secret_fields: ClassVar[tuple[str, ...]] = ()
    service_name: str = "console"
    # The HTTP listener of the page and its JSON endpoints.
    http_host: str = "127.0.0.1"
    http_port: int = 8090
    # The gRPC APIs the console reads; TLS to them by the shared ``grpc_tls_*`` settings.
    community_addr: str = "127.0.0.1:50051"
    reputation_addr: str = "127.0.0.1:50053"
    # Seconds one call to a service may take.
    call_timeout_seconds: float = 10.0
    # Weeks of participation shown by default, and at most.
    default_weeks: int = 8
    max_weeks: int = 26
    static_dir: Path = STATIC_DIR


def check_console_profile(settings: ConsoleSettings) -> None:
    """Under the production profile, calls to the services go over TLS unless plaintext gRPC is allowed
    (a service mesh encrypts it)."""
    if settings.profile != "production":
        return
    if not grpc_tls_enabled(settings) and "grpc" not in settings.plaintext_allowed:
        raise InsecureSettings(
            "GUILD_PROFILE=production refuses plaintext grpc: set GUILD_GRPC_TLS_CERT_FILE and "
            "GUILD_GRPC_TLS_KEY_FILE, or GUILD_ALLOW_PLAINTEXT=grpc where a service mesh encrypts it"
        )

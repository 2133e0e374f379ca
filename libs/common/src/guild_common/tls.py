"""Transport encryption from settings: gRPC (TLS, mutual TLS between services), NATS and MongoDB.

Every transport is plaintext unless configured (the local default, on loopback); docs/security.md,
"Transport encryption", lists the variables. Certificates are read when the process starts, so a
renewed certificate takes effect on the next (rolling) restart.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import grpc

from guild_common.settings import ServiceSettings


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def grpc_tls_enabled(settings: ServiceSettings) -> bool:
    """The service has a certificate: its server speaks TLS only, and its calls to other services too."""
    return bool(settings.grpc_tls_cert_file and settings.grpc_tls_key_file)


def grpc_server_credentials(settings: ServiceSettings) -> grpc.ServerCredentials | None:
    """TLS credentials of the server (``None``: plaintext). With ``grpc_tls_client_auth=require`` a
    client must present a certificate signed by ``grpc_tls_ca_file``."""
    if not grpc_tls_enabled(settings):
        return None
    require = settings.grpc_tls_client_auth == "require"
    credentials: grpc.ServerCredentials = grpc.ssl_server_credentials(
        [(_read(settings.grpc_tls_key_file), _read(settings.grpc_tls_cert_file))],
        root_certificates=_read(settings.grpc_tls_ca_file) if settings.grpc_tls_ca_file else None,
        require_client_auth=require,
    )
    return credentials


def grpc_channel_credentials(settings: ServiceSettings) -> grpc.ChannelCredentials | None:
    """TLS credentials of calls to other services (``None``: plaintext): the server is verified against
    ``grpc_tls_ca_file`` (empty: the system roots) and this service's certificate is presented."""
    if not grpc_tls_enabled(settings):
        return None
    credentials: grpc.ChannelCredentials = grpc.ssl_channel_credentials(
        root_certificates=_read(settings.grpc_tls_ca_file) if settings.grpc_tls_ca_file else None,
        private_key=_read(settings.grpc_tls_key_file),
        certificate_chain=_read(settings.grpc_tls_cert_file),
    )
    return credentials


def nats_tls_enabled(settings: ServiceSettings) -> bool:
    return bool(
        settings.nats_tls
        or settings.nats_tls_ca_file
        or settings.nats_tls_cert_file
        or any(s.strip().startswith("tls://") for s in settings.nats_url.split(","))
    )


def nats_ssl_context(settings: ServiceSettings) -> ssl.SSLContext | None:
    """The TLS context of the NATS connection (``None``: plaintext): the server verified against
    ``nats_tls_ca_file`` (empty: the system roots), the client certificate presented when set."""
    if not nats_tls_enabled(settings):
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.nats_tls_ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.nats_tls_cert_file:
        context.load_cert_chain(settings.nats_tls_cert_file, settings.nats_tls_key_file)
    return context


def _uri_asks_for_tls(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme == "mongodb+srv":
        return True
    options = {key.lower(): value.lower() for key, value in parse_qsl(parts.query)}
    return options.get("tls") == "true" or options.get("ssl") == "true"


def mongo_tls_enabled(settings: ServiceSettings) -> bool:
    return bool(
        settings.mongo_tls
        or settings.mongo_tls_ca_file
        or settings.mongo_tls_certificate_key_file
        or _uri_asks_for_tls(settings.mongo_uri)
    )


def mongo_tls_options(settings: ServiceSettings) -> dict[str, Any]:
    """PyMongo keyword options for TLS (empty: as the URI says, plaintext by default)."""
    options: dict[str, Any] = {}
    if settings.mongo_tls or settings.mongo_tls_ca_file or settings.mongo_tls_certificate_key_file:
        options["tls"] = True
    if settings.mongo_tls_ca_file:
        options["tlsCAFile"] = settings.mongo_tls_ca_file
    if settings.mongo_tls_certificate_key_file:
        options["tlsCertificateKeyFile"] = settings.mongo_tls_certificate_key_file
    return options


def plaintext_transports(settings: ServiceSettings) -> list[str]:
    """The transports the settings leave unencrypted, in the names ``allow_plaintext`` takes."""
    encrypted = {
        "grpc": grpc_tls_enabled(settings),
        "nats": nats_tls_enabled(settings),
        "mongo": mongo_tls_enabled(settings),
    }
    return [name for name, on in encrypted.items() if not on]

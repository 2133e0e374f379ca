"""The deployment profile: ``GUILD_PROFILE=production`` refuses to start on development secrets.

Each settings class names its secrets in ``secret_fields`` (the shared ones in
:class:`guild_common.settings.ServiceSettings`, a service adds its own, e.g. notify's
``unsubscribe_secret``). Under the production profile every one of them must be set and differ from
its development default; ``jwt_secret`` is exempt while ``jwt_jwks_url`` or ``jwt_public_key``
verifies tokens instead.
The service must also present NATS credentials (a user and password, or a credentials file): a
production bus refuses anonymous connections, and a service without them would only fail later.
Every transport must be encrypted too: gRPC (a server certificate), NATS and MongoDB (TLS), unless
``GUILD_ALLOW_PLAINTEXT`` names it (``grpc``, ``nats``, ``mongo``, comma-separated), for when a service
mesh or another tunnel already encrypts and authenticates that traffic (docs/security.md).
The local profile (the default) accepts the defaults, so ``make up`` and the tests need no setup.
"""

from __future__ import annotations

from guild_common.settings import ServiceSettings
from guild_common.tls import plaintext_transports


class InsecureSettings(RuntimeError):
    """A production service was configured with an empty or development-default secret, or a plaintext
    transport it was not allowed."""


def weak_secrets(settings: ServiceSettings) -> list[str]:
    """The environment variables of the secrets that are empty or still their development default."""
    weak: list[str] = []
    fields = type(settings).model_fields
    for name in settings.secret_fields:
        if name == "jwt_secret" and (settings.jwt_public_key or settings.jwt_jwks_url):
            continue
        value = getattr(settings, name)
        if not value or value == fields[name].default:
            weak.append(f"GUILD_{name.upper()}")
    if not settings.nats_credentials_file and not (settings.nats_user and settings.nats_password):
        weak.append("GUILD_NATS_USER and GUILD_NATS_PASSWORD (or GUILD_NATS_CREDENTIALS_FILE)")
    return weak


def unencrypted_transports(settings: ServiceSettings) -> list[str]:
    """The plaintext transports ``GUILD_ALLOW_PLAINTEXT`` does not allow."""
    return [t for t in plaintext_transports(settings) if t not in settings.plaintext_allowed]


_TLS_VARIABLES = {
    "grpc": "GUILD_GRPC_TLS_CERT_FILE and GUILD_GRPC_TLS_KEY_FILE",
    "nats": "GUILD_NATS_TLS (or GUILD_NATS_TLS_CA_FILE, or a tls:// URL)",
    "mongo": "GUILD_MONGO_TLS (or GUILD_MONGO_TLS_CA_FILE, or tls=true in the URI)",
}


def check_profile(settings: ServiceSettings) -> None:
    """Raise :class:`InsecureSettings` naming each weak secret and each plaintext transport if the profile
    is production."""
    if settings.profile != "production":
        return
    problems: list[str] = []
    weak = weak_secrets(settings)
    if weak:
        problems.append(f"refuses empty or development-default secrets: set {', '.join(weak)}")
    plaintext = unencrypted_transports(settings)
    if plaintext:
        problems.append(
            f"refuses plaintext {', '.join(plaintext)}: set "
            + "; ".join(_TLS_VARIABLES[t] for t in plaintext)
            + f"; or GUILD_ALLOW_PLAINTEXT={','.join(plaintext)} where a service mesh encrypts it"
        )
    if problems:
        raise InsecureSettings("GUILD_PROFILE=production " + "; and ".join(problems))

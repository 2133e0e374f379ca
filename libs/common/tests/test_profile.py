"""The production profile refuses empty and development-default secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import ClassVar

import pytest

from guild_common.profile import InsecureSettings, check_profile, unencrypted_transports, weak_secrets
from guild_common.settings import ServiceSettings

NATS_CREDENTIALS = "GUILD_NATS_USER and GUILD_NATS_PASSWORD (or GUILD_NATS_CREDENTIALS_FILE)"


class _WithExtraSecret(ServiceSettings):
    secret_fields: ClassVar[tuple[str, ...]] = (*ServiceSettings.secret_fields, "service_token")


def _production_with_secrets(
    settings_class: type[ServiceSettings] = ServiceSettings, **fields: object
) -> ServiceSettings:
    return settings_class.model_validate(
        {
            "profile": "production",
            "jwt_public_key": "-----BEGIN PUBLIC KEY-----",
            "page_token_secret": "s3",
            "nats_user": "content",
            "nats_password": "p",
            **fields,
        }
    )


def test_the_local_profile_accepts_the_defaults() -> None:
    check_profile(ServiceSettings())


def test_production_names_every_default_or_empty_secret() -> None:
    settings = _WithExtraSecret(profile="production")
    assert weak_secrets(settings) == [
        "GUILD_JWT_SECRET",
        "GUILD_PAGE_TOKEN_SECRET",
        "GUILD_SERVICE_TOKEN",
        NATS_CREDENTIALS,
    ]
    with pytest.raises(InsecureSettings, match="GUILD_PAGE_TOKEN_SECRET"):
        check_profile(settings)


def test_production_starts_with_real_secrets_and_ignores_the_jwt_secret_under_a_public_key() -> None:
    settings = _production_with_secrets(
        _WithExtraSecret, service_token="t", allow_plaintext="grpc,nats,mongo"
    )
    check_profile(settings)
    by_file = settings.model_copy(
        update={"nats_user": "", "nats_password": "", "nats_credentials_file": "/run/nats.creds"}
    )
    assert weak_secrets(by_file) == []
    assert weak_secrets(settings.model_copy(update={"nats_password": ""})) == [NATS_CREDENTIALS]
    assert weak_secrets(settings.model_copy(update={"jwt_public_key": ""})) == ["GUILD_JWT_SECRET"]
    by_key_set = {"jwt_public_key": "", "jwt_jwks_url": "https://id.example.com/.well-known/jwks.json"}
    assert weak_secrets(settings.model_copy(update=by_key_set)) == []


def test_the_profile_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUILD_PROFILE", "production")
    monkeypatch.setenv("GUILD_PAGE_TOKEN_SECRET", "")
    with pytest.raises(InsecureSettings, match="GUILD_JWT_SECRET, GUILD_PAGE_TOKEN_SECRET"):
        check_profile(ServiceSettings())


@pytest.mark.parametrize(
    ("service", "variables"),
    [
        ("community", "GUILD_JWT_SECRET, GUILD_PAGE_TOKEN_SECRET, GUILD_SERVICE_TOKEN"),
        ("content", "GUILD_JWT_SECRET, GUILD_PAGE_TOKEN_SECRET, GUILD_SERVICE_TOKEN"),
        ("reputation", "GUILD_JWT_SECRET, GUILD_PAGE_TOKEN_SECRET, GUILD_SERVICE_TOKEN"),
        ("notify", "GUILD_JWT_SECRET, GUILD_PAGE_TOKEN_SECRET, GUILD_UNSUBSCRIBE_SECRET"),
    ],
)
@pytest.mark.servers  # starts the service's process
def test_a_production_service_refuses_to_start_on_development_secrets(service: str, variables: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GUILD_")}
    env["GUILD_PROFILE"] = "production"
    done = subprocess.run(
        [sys.executable, "-m", f"guild_{service}"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert f"set {variables}, {NATS_CREDENTIALS}" in done.stderr


def test_production_refuses_plaintext_transports_unless_allowed() -> None:
    settings = _production_with_secrets()
    assert unencrypted_transports(settings) == ["grpc", "nats", "mongo"]
    with pytest.raises(InsecureSettings, match="refuses plaintext grpc, nats, mongo") as refused:
        check_profile(settings)
    assert "GUILD_ALLOW_PLAINTEXT=grpc,nats,mongo" in str(refused.value)
    assert "secrets" not in str(refused.value)
    # a mesh that encrypts gRPC alone
    meshed = settings.model_copy(update={"allow_plaintext": "grpc"})
    assert unencrypted_transports(meshed) == ["nats", "mongo"]


def test_production_starts_with_every_transport_encrypted() -> None:
    settings = _production_with_secrets(
        grpc_tls_cert_file="/etc/guild/tls/tls.crt",
        grpc_tls_key_file="/etc/guild/tls/tls.key",
        grpc_tls_ca_file="/etc/guild/tls/ca.crt",
        grpc_tls_client_auth="require",
        nats_url="tls://nats:4222",
        mongo_uri="mongodb://mongo:27017/?tls=true",
    )
    check_profile(settings)
    by_files = settings.model_copy(
        update={
            "nats_url": "nats://nats:4222",
            "nats_tls_ca_file": "/etc/guild/tls/ca.crt",
            "mongo_uri": "mongodb://mongo:27017",
            "mongo_tls": True,
        }
    )
    assert unencrypted_transports(by_files) == []


def test_tls_settings_must_be_complete() -> None:
    with pytest.raises(ValueError, match="GUILD_GRPC_TLS_KEY_FILE"):
        ServiceSettings(grpc_tls_cert_file="/c.pem")
    with pytest.raises(ValueError, match="GUILD_NATS_TLS_CERT_FILE"):
        ServiceSettings(nats_tls_key_file="/k.pem")
    with pytest.raises(ValueError, match="GUILD_GRPC_TLS_CA_FILE"):
        ServiceSettings(
            grpc_tls_cert_file="/c.pem", grpc_tls_key_file="/k.pem", grpc_tls_client_auth="require"
        )
    with pytest.raises(ValueError, match="unknown transports"):
        ServiceSettings(allow_plaintext="grpc,smtp")

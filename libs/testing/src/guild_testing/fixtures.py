"""pytest fixtures: one FerretDB and one NATS per test session, a fresh database per test.

NATS runs with authentication as in every deployment: each service connects as its own user
(``guild_common.nats_access``); ``Infra.nats_url`` carries the admin's credentials for tests that publish
or read events directly."""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio

from guild_common.auth import issue_token
from guild_common.nats_access import ADMIN, SERVICES, Slice
from guild_common.settings import ServiceSettings
from guild_testing.servers import FerretServer, NatsServer


@dataclass
class Infra:
    """The servers of one test session."""

    ferret: FerretServer
    nats: NatsServer
    work_dir: Path

    @property
    def mongo_uri(self) -> str:
        return self.ferret.uri

    @property
    def nats_url(self) -> str:
        """NATS as the admin user (credentials in the URL): for tests that publish or read directly."""
        return self.nats.admin_url

    def nats_settings(self, service: str) -> dict[str, str]:
        """``nats_url``, ``nats_user`` and ``nats_password`` of ``service``'s settings: its own NATS user
        (any other name than a Guild service gets the admin's)."""
        user, password = self.nats.credentials(service if service in SERVICES else ADMIN)
        return {"nats_url": self.nats.url, "nats_user": user, "nats_password": password}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the shared servers is marked ``servers`` (left out of ``make test-fast``)."""
    for item in items:
        if "infra" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.servers)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with tempfile.TemporaryDirectory(prefix="guild-test-") as tmp:
        work = Path(tmp)
        ferret = FerretServer(data_dir=work / "ferretdb", log_dir=work / "logs")
        nats_server = NatsServer(data_dir=work / "nats", log_dir=work / "logs", auth_dir=work / "nats-auth")
        ferret.start()
        try:
            nats_server.start()
            try:
                yield Infra(ferret, nats_server, work)
            finally:
                nats_server.stop()
        finally:
            ferret.stop()


@pytest_asyncio.fixture
async def clean_streams(infra: Infra) -> AsyncIterator[None]:
    """Delete every JetStream stream so a test sees only its own events."""
    nc = await nats.connect(infra.nats_url)
    js = nc.jetstream()
    for stream in await js.streams_info():
        if stream.config.name:
            await js.delete_stream(stream.config.name)
    await nc.close()
    yield


def database_name(node_name: str) -> str:
    return "t_" + re.sub(r"[^a-z0-9]+", "_", node_name.lower())[:50]


SettingsFactory = Callable[..., ServiceSettings]


@pytest.fixture
def settings_for(infra: Infra, request: pytest.FixtureRequest, clean_streams: None) -> SettingsFactory:
    """A function making a service's settings with a fresh database for this test."""
    base = database_name(request.node.name)

    def make(settings_class: type[ServiceSettings], **overrides: Any) -> ServiceSettings:
        service = overrides.pop("service_name", None) or settings_class().service_name
        fields: dict[str, Any] = {
            "service_name": service,
            "mongo_uri": infra.mongo_uri,
            "mongo_db": f"{base}_{service}",
            "grpc_host": "127.0.0.1",
            "grpc_port": 0,
            "outbox_sweep_seconds": 0.5,
            "consumer_backoff_seconds": [0.2, 0.5, 1.0],
            "shutdown_grace_seconds": 2.0,
            # Tests drive a service as a few callers at full speed; the per-caller rate limit is tested
            # on its own (libs/common/tests/test_limits.py).
            "rate_limit_per_second": 0,
        }
        fields.update(infra.nats_settings(service))
        fields.update(overrides)
        # a slice's durable consumers have names of their own, which the service's user must be allowed
        infra.nats.allow_slice(Slice(fields.get("region_filter", "*"), fields.get("programme_filter", "*")))
        return settings_class.model_validate(fields)

    return make


@functools.cache
def _token_settings() -> ServiceSettings:
    """The default settings tokens are signed with, read once: building settings reads the environment
    and ``.env``, which costs more than signing the token itself."""
    return ServiceSettings()


def token_for(subject: str, *, scopes: tuple[str, ...] = ()) -> str:
    defaults = _token_settings()
    return issue_token(
        subject,
        secret=defaults.jwt_secret,
        issuer=defaults.jwt_issuer,
        audience=defaults.jwt_audience,
        scopes=scopes,
    )


def auth(subject: str, *scopes: str) -> list[tuple[str, str]]:
    """gRPC call metadata for ``subject``, whose token carries ``scopes``."""
    return [("authorization", f"Bearer {token_for(subject, scopes=scopes)}")]

"""Running a service process: logging, telemetry, clients, server and shutdown in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from guild_common.grpc.server import ServiceServer
from guild_common.infrastructure import Infrastructure
from guild_common.logging import configure_logging
from guild_common.pagination import configure_page_tokens
from guild_common.profile import InsecureSettings, check_profile
from guild_common.settings import ServiceSettings
from guild_common.telemetry import setup_telemetry

Builder = Callable[[ServiceSettings, Infrastructure], Awaitable[ServiceServer]]


@dataclass
class ServiceApp:
    """A built service: its server (with workers) and the clients it owns."""

    server: ServiceServer
    infra: Infrastructure

    @classmethod
    async def create(cls, settings: ServiceSettings, build: Builder) -> ServiceApp:
        """Check the profile's secrets, key the page tokens, then connect the clients and build."""
        check_profile(settings)
        configure_page_tokens(settings.page_token_secret)
        infra = await Infrastructure.connect(settings)
        try:
            server = await build(settings, infra)
        except BaseException:
            await infra.aclose()
            raise
        return cls(server, infra)

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()
        await self.infra.aclose()


def run_service(settings: ServiceSettings, build: Builder) -> None:
    """Entry point of ``python -m guild_<svc>``: serve until SIGTERM, then drain and flush."""
    try:
        check_profile(settings)
    except InsecureSettings as exc:
        raise SystemExit(f"guild-{settings.service_name}: {exc}") from None
    configure_logging(settings.service_name, settings.log_level)
    telemetry = setup_telemetry(settings.service_name)

    async def main() -> None:
        app = await ServiceApp.create(settings, build)
        await app.start()
        try:
            await app.server.wait_for_termination()
        finally:
            await app.stop()

    try:
        asyncio.run(main())
    finally:
        telemetry.shutdown()

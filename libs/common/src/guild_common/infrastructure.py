"""The process-wide MongoDB and NATS clients of one service."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from guild_common.health import Readiness
from guild_common.mongo import Document, create_client, ping
from guild_common.nats_access import inbox_prefix
from guild_common.settings import ServiceSettings
from guild_common.tls import mongo_tls_options, nats_ssl_context

log = structlog.get_logger("guild.infrastructure")


async def connect_nats(
    url: str,
    *,
    name: str,
    user: str = "",
    password: str = "",
    credentials_file: str = "",
    tls: ssl.SSLContext | None = None,
    first_connect_timeout: float = 60.0,
) -> NatsClient:
    """Connect, retrying a server that is not up yet; once connected, reconnect forever.

    With ``user`` (and ``password``), replies and deliveries come on the user's own inbox prefix, the only
    subjects its permissions let it receive on (``guild_common.nats_access``); a ``credentials_file``
    (JWT and nkey seed) is used as it is. With ``tls`` the connection is TLS, verified by that context."""
    credentials: dict[str, Any] = {}
    if credentials_file:
        credentials["user_credentials"] = credentials_file
    elif user:
        credentials.update(user=user, password=password, inbox_prefix=inbox_prefix(user))
    if tls is not None:
        credentials["tls"] = tls
    deadline = asyncio.get_running_loop().time() + first_connect_timeout
    delay = 0.2
    while True:
        try:
            return await nats.connect(
                servers=[s.strip() for s in url.split(",") if s.strip()],
                name=name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=2,
                allow_reconnect=True,
                error_cb=_log_nats_error,
                **credentials,
            )
        except Exception as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("nats not reachable yet", error=repr(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def _log_nats_error(error: Exception) -> None:
    """Errors the server reports on the connection, such as a permissions violation, go to the log."""
    log.warning("nats error", error=str(error) or repr(error))


@dataclass
class Infrastructure:
    """Clients owned by the process; close them with ``aclose``."""

    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    nats: NatsClient
    js: JetStreamContext

    @classmethod
    async def connect(cls, settings: ServiceSettings) -> Infrastructure:
        mongo = create_client(
            settings.mongo_uri,
            app_name=f"guild-{settings.service_name}",
            timeout_seconds=settings.mongo_timeout_seconds,
            tls_options=mongo_tls_options(settings),
        )
        nc = await connect_nats(
            settings.nats_url,
            name=f"guild-{settings.service_name}",
            user=settings.nats_user,
            password=settings.nats_password,
            credentials_file=settings.nats_credentials_file,
            tls=nats_ssl_context(settings),
        )
        return cls(mongo=mongo, db=mongo[settings.database_name], nats=nc, js=nc.jetstream())

    async def readiness(self) -> Readiness:
        """Serving while MongoDB answers. NATS down or hung only degrades the service: writes keep their
        events in the outbox until the relay can publish them, so the process stays in rotation."""
        mongo_ok, nats_ok = await asyncio.gather(ping(self.mongo), self._nats_responsive())
        return Readiness(serving=mongo_ok, degraded=() if nats_ok else ("nats",))

    async def _nats_responsive(self, timeout: int = 1) -> bool:
        """Connected and answering a ping (a hung server keeps the connection open but never answers)."""
        if not self.nats.is_connected:
            return False
        try:
            await self.nats.flush(timeout=timeout)
        except Exception:
            return False
        return True

    async def aclose(self) -> None:
        try:
            await self.nats.drain()
        except Exception as exc:
            log.warning("nats drain failed", error=repr(exc))
        await self.mongo.close()

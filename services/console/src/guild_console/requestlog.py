"""One JSON log line per HTTP request: method, path (no query, no headers), status and duration."""

from __future__ import annotations

import time

import structlog
from starlette.types import Message, Receive, Scope, Send

from guild_console.middleware import HttpMiddleware

_log = structlog.get_logger("guild.console")


class RequestLog(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            _log.info(
                "http request",
                method=scope["method"],
                path=scope["path"][:200],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )

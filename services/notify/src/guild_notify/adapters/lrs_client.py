"""Learning Record Stores over HTTP: batches of xAPI statements POSTed to an endpoint."""

from __future__ import annotations

import asyncio

import httpx

from guild_notify.domain.xapi import (
    XAPI_VERSION,
    Endpoint,
)


class HttpxStatementSender:
    """One pooled client for every endpoint; each request has a total time limit and follows no
    redirect (credentials go only where they were configured to go)."""

    def __init__(self, timeout_seconds: float = 10.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)
        self._total = timeout_seconds

    async def send(self, endpoint: Endpoint, body: bytes) -> int:
        auth: httpx.Auth = (
            httpx.BasicAuth(endpoint.username, endpoint.password) if endpoint.username else httpx.Auth()
        )
        async with asyncio.timeout(self._total):  # httpx's own limits are per phase, not per request
            response = await self._client.post(
                endpoint.statements_url,
                content=body,
                headers={"X-Experience-API-Version": XAPI_VERSION, "Content-Type": "application/json"},
                auth=auth,
            )
        return response.status_code

    async def aclose(self) -> None:
        await self._client.aclose()

"""Token signing keys published as a JSON Web Key Set, cached and refreshed by ``kid``.

An identity provider rotates keys by publishing the next key beside the current one, then signing with
it. The set is fetched once and kept for ``max_age_seconds``; a token naming a ``kid`` the cached set
lacks triggers one early refetch, at most once per ``min_refresh_seconds`` so that a flood of tokens
with made-up ``kid`` values cannot turn into a flood of requests to the provider. Concurrent misses in
one process share a single fetch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
from jwt import PyJWK, PyJWKSet

from guild_common.errors import Unauthenticated

#: Algorithms a JWKS key may verify; HMAC and ``none`` are never taken from a published set.
ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)

Fetch = Callable[[], Awaitable[dict[str, Any]]]


class JwksUnavailable(Unauthenticated):
    """The key set could not be fetched and no cached key fits the token."""


def http_fetch(url: str, timeout_seconds: float) -> Fetch:
    """Fetch the set from ``url`` with a bounded wait and response size."""

    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > 256 * 1024:
                raise ValueError("key set larger than 256 KiB")
            body = response.json()
        if not isinstance(body, dict):
            raise ValueError("key set is not a JSON object")
        return body

    return fetch


class JwksKeys:
    """The signing keys of one JWKS URL by ``kid``."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        max_age_seconds: float = 300.0,
        min_refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._max_age = max_age_seconds
        self._min_refresh = min_refresh_seconds
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._inflight: asyncio.Task[None] | None = None

    async def key_for(self, kid: str) -> PyJWK:
        """The key named ``kid``, refetching the set when it is stale or lacks the key."""
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._max_age
        may_refresh = self._fetched_at is None or now - self._fetched_at >= self._min_refresh
        if stale or (kid not in self._keys and may_refresh):
            try:
                await self._refresh()
            except Exception as exc:  # provider down: keep serving the keys already held
                if kid not in self._keys:
                    raise JwksUnavailable("signing keys unavailable") from exc
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("token signed with an unknown key")
        return key

    async def _refresh(self) -> None:
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._load())
            self._inflight.add_done_callback(self._clear_inflight)
        await asyncio.shield(self._inflight)

    def _clear_inflight(self, _: asyncio.Task[None]) -> None:
        self._inflight = None

    async def _load(self) -> None:
        try:
            document = await self._fetch()
        finally:
            # A failed fetch also counts, so a provider outage is not hammered on every request.
            self._fetched_at = self._clock()
        keys: dict[str, PyJWK] = {}
        for key in PyJWKSet.from_dict(document).keys:
            if (
                key.key_id
                and key.public_key_use in (None, "sig")
                and _algorithm(key) in ASYMMETRIC_ALGORITHMS
            ):
                keys[key.key_id] = key
        self._keys = keys


def _algorithm(key: PyJWK) -> str:
    return str(key.algorithm_name)


async def verify_with_jwks(keys: JwksKeys, token: str, **options: Any) -> dict[str, Any]:
    """The token's claims, verified with the key its header names; the header's ``alg`` must be the
    key's own algorithm (no algorithm confusion)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid token: {exc}") from exc
    kid, alg = header.get("kid"), header.get("alg")
    if not isinstance(kid, str) or not kid:
        raise Unauthenticated("token names no signing key (kid)")
    key = await keys.key_for(kid[:128])
    if alg != _algorithm(key):
        raise Unauthenticated("token algorithm does not match its key")
    try:
        claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=[_algorithm(key)], **options)
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid token: {exc}") from exc
    return claims

"""Bearer JWT verification and the principal bound to each request."""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass, field
from typing import Any

import jwt

from guild_common.errors import Unauthenticated
from guild_common.jwks import JwksKeys, http_fetch, verify_with_jwks
from guild_common.settings import ServiceSettings


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person (``sub`` is their member id) or a service."""

    subject: str
    name: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)
    token: str = ""

    @property
    def is_service(self) -> bool:
        return "service" in self.scopes


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("guild_principal", default=None)


def current_principal() -> Principal:
    """The authenticated caller of the running RPC."""
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("no authenticated caller")
    return principal


def bind_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current.set(principal)


def reset_principal(token: contextvars.Token[Principal | None]) -> None:
    _current.reset(token)


class TokenVerifier:
    """Verifies tokens with issuer and audience: against a JWKS URL's rotating keys (RS256/ES256 and
    other asymmetric algorithms, chosen by ``kid``), a static RS256 public key, or an HS256 secret (for
    local development), in that order of preference."""

    def __init__(
        self, *, secret: str, public_key: str, issuer: str, audience: str, jwks: JwksKeys | None = None
    ) -> None:
        self._jwks = jwks
        if public_key:
            self._key: str = public_key
            self._algorithms = ["RS256"]
        else:
            self._key = secret
            self._algorithms = ["HS256"]
        self._issuer = issuer
        self._audience = audience

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> TokenVerifier:
        jwks = None
        if settings.jwt_jwks_url:
            jwks = JwksKeys(
                http_fetch(settings.jwt_jwks_url, settings.jwt_jwks_timeout_seconds),
                max_age_seconds=settings.jwt_jwks_max_age_seconds,
                min_refresh_seconds=settings.jwt_jwks_min_refresh_seconds,
            )
        return cls(
            secret=settings.jwt_secret,
            public_key=settings.jwt_public_key,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            jwks=jwks,
        )

    async def verify(self, token: str) -> Principal:
        options: dict[str, Any] = {
            "issuer": self._issuer,
            "audience": self._audience,
            "options": {"require": ["sub", "exp"]},
        }
        if self._jwks is not None:
            claims = await verify_with_jwks(self._jwks, token, **options)
        else:
            try:
                claims = jwt.decode(token, self._key, algorithms=self._algorithms, **options)
            except jwt.PyJWTError as exc:
                raise Unauthenticated(f"invalid token: {exc}") from exc
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated("token has no subject")
        scope = claims.get("scope", "")
        return Principal(
            subject=subject,
            name=str(claims.get("name", "")),
            scopes=frozenset(str(scope).split()),
            token=token,
        )

    async def verify_header(self, header: str | None) -> Principal:
        if not header:
            raise Unauthenticated("missing authorization metadata")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("authorization must be 'Bearer <token>'")
        return await self.verify(token.strip())


def issue_token(
    subject: str,
    *,
    secret: str,
    issuer: str,
    audience: str,
    name: str = "",
    scopes: tuple[str, ...] = (),
    ttl_seconds: int = 12 * 3600,
) -> str:
    """An HS256 token, for local development, tests and service-to-service calls in a dev setup."""
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": subject,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if name:
        claims["name"] = name
    if scopes:
        claims["scope"] = " ".join(scopes)
    return jwt.encode(claims, secret, algorithm="HS256")


def peek_principal() -> Principal | None:
    """The caller of the running RPC, or None outside one."""
    return _current.get()

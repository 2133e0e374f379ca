"""Tokens verified against a JWKS URL: key rotation by ``kid``, bounded refetching, no algorithm
confusion, and the gRPC server accepting and refusing such tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from guild_common.auth import TokenVerifier, current_principal
from guild_common.errors import Unauthenticated
from guild_common.settings import ServiceSettings
from guild_testing.fixtures import auth
from guild_testing.workers import probe_server, raw_bytes

ISSUER = AUDIENCE = "guild"


class KeyPair:
    def __init__(self, kid: str, private: Any, alg: str) -> None:
        self.kid, self.private, self.alg = kid, private, alg

    def jwk(self) -> dict[str, Any]:
        algorithm = RSAAlgorithm if self.alg.startswith("RS") else ECAlgorithm
        doc: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**doc, "kid": self.kid, "use": "sig", "alg": self.alg}

    def token(self, subject: str = "ann", *, kid: str | None = None, ttl: int = 600) -> str:
        now = int(time.time())
        claims = {"sub": subject, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": kid or self.kid})


def rsa_pair(kid: str) -> KeyPair:
    return KeyPair(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")


def ec_pair(kid: str) -> KeyPair:
    return KeyPair(kid, ec.generate_private_key(ec.SECP256R1()), "ES256")


class Provider:
    """An identity provider's JWKS endpoint on loopback: the published keys can change, and it can go
    down; it counts the fetches."""

    def __init__(self) -> None:
        self.keys: list[KeyPair] = []
        self.fetches = 0
        self.down = False
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                if provider.down:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": [k.jwk() for k in provider.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def provider() -> Iterator[Provider]:
    served = Provider()
    yield served
    served.close()


def _verifier(provider: Provider, **overrides: Any) -> TokenVerifier:
    settings = ServiceSettings(jwt_jwks_url=provider.url, **overrides)
    return TokenVerifier.from_settings(settings)


async def _refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)
    return str(caught.value)


async def test_a_rotated_key_is_fetched_on_its_first_token(provider: Provider) -> None:
    old, new = rsa_pair("2026-11"), ec_pair("2026-12")
    provider.keys = [old]
    verifier = _verifier(provider, jwt_jwks_min_refresh_seconds=0.2)
    assert (await verifier.verify(old.token("ann"))).subject == "ann"
    assert (await verifier.verify(old.token("bob"))).subject == "bob"
    assert provider.fetches == 1  # cached

    provider.keys = [old, new]  # the provider publishes the next key (an ES256 one), then signs with it
    await _refresh_allowed()
    assert (await verifier.verify(new.token("cat"))).subject == "cat"
    assert provider.fetches == 2
    assert (await verifier.verify(old.token("dan"))).subject == "dan"  # both keys held
    assert provider.fetches == 2


async def _refresh_allowed() -> None:
    """Past the 0.2 s these tests allow between early refetches."""
    await asyncio.sleep(0.25)


async def test_unknown_kids_refetch_at_most_once_per_interval(provider: Provider) -> None:
    known = rsa_pair("k1")
    stranger = rsa_pair("k2")  # signs, but is never published
    provider.keys = [known]
    verifier = _verifier(provider, jwt_jwks_min_refresh_seconds=60)
    await verifier.verify(known.token())
    for n in range(20):
        assert "unknown key" in await _refused(verifier, stranger.token(kid=f"made-up-{n}"))
    assert provider.fetches == 1  # the first fetch was under a minute ago: no refetch at all

    fast = _verifier(provider, jwt_jwks_min_refresh_seconds=0.2)
    await fast.verify(known.token())
    before = provider.fetches
    for n in range(20):
        await _refused(fast, stranger.token(kid=f"made-up-{n}"))
    assert provider.fetches - before <= 1


async def test_a_removed_key_stops_verifying_when_the_set_expires(provider: Provider) -> None:
    revoked, kept = rsa_pair("revoked"), rsa_pair("kept")
    provider.keys = [revoked, kept]
    verifier = _verifier(provider, jwt_jwks_max_age_seconds=0.2, jwt_jwks_min_refresh_seconds=0.1)
    await verifier.verify(revoked.token())
    provider.keys = [kept]
    await asyncio.sleep(0.25)
    assert "unknown key" in await _refused(verifier, revoked.token())
    assert (await verifier.verify(kept.token("eve"))).subject == "eve"


async def test_held_keys_keep_working_while_the_provider_is_down(provider: Provider) -> None:
    key = rsa_pair("k1")
    provider.keys = [key]
    verifier = _verifier(provider, jwt_jwks_max_age_seconds=0.1, jwt_jwks_min_refresh_seconds=0.1)
    await verifier.verify(key.token())
    provider.down = True
    await asyncio.sleep(0.15)
    assert (await verifier.verify(key.token("bob"))).subject == "bob"
    await asyncio.sleep(0.15)  # a new key may be looked for again, and the provider is still down
    assert "unavailable" in await _refused(verifier, rsa_pair("k9").token())


async def test_tokens_that_bend_the_algorithm_or_omit_the_kid_are_refused(provider: Provider) -> None:
    key = rsa_pair("k1")
    provider.keys = [key]
    verifier = _verifier(provider)
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600}
    # The public key used as an HMAC secret: the classic confusion attack.
    hmac_token = _hmac_signed(claims, pem, kid="k1")
    assert "algorithm" in await _refused(verifier, hmac_token)
    unsigned = jwt.encode(claims, "", algorithm="none", headers={"kid": "k1"})
    assert "algorithm" in await _refused(verifier, unsigned)
    no_kid = jwt.encode(claims, key.private, algorithm="RS256")
    assert "kid" in await _refused(verifier, no_kid)
    assert "expired" in (await _refused(verifier, key.token(ttl=-10))).lower()
    wrong_audience = jwt.encode(
        {**claims, "aud": "other"}, key.private, algorithm="RS256", headers={"kid": "k1"}
    )
    assert "audience" in (await _refused(verifier, wrong_audience)).lower()


def _hmac_signed(claims: dict[str, Any], secret: bytes, *, kid: str) -> str:
    """HS256 by hand: PyJWT itself refuses a PEM key as an HMAC secret."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = part(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{part(signature)}"


async def whoami(request: bytes, context: Any) -> bytes:
    return current_principal().subject.encode()


@pytest_asyncio.fixture
async def jwks_server(provider: Provider) -> AsyncIterator[grpc.aio.Channel]:
    async with probe_server(
        "test.Probe", unary={"WhoAmI": whoami}, jwt_jwks_url=provider.url, jwt_jwks_min_refresh_seconds=0.2
    ) as channel:
        yield channel


async def test_the_server_verifies_rotating_keys(provider: Provider, jwks_server: grpc.aio.Channel) -> None:
    first, second = rsa_pair("a"), rsa_pair("b")
    provider.keys = [first]
    call = jwks_server.unary_unary(
        "/test.Probe/WhoAmI", request_serializer=raw_bytes, response_deserializer=raw_bytes
    )
    assert await call(b"", metadata=[("authorization", f"Bearer {first.token('ann')}")]) == b"ann"
    provider.keys = [second]
    await _refresh_allowed()
    assert await call(b"", metadata=[("authorization", f"Bearer {second.token('bob')}")]) == b"bob"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        # A development HS256 token is no longer accepted once a key set verifies tokens.
        await call(b"", metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

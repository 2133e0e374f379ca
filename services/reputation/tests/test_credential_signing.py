"""Signing Open Badges credentials: the supported key types, the key id, and what a verifier checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from guild_reputation.domain.badges import Award, Badge, Tier
from guild_reputation.domain.credential_signing import (
    SigningKeyError,
    load_signing_key,
    public_key_set,
    signed_credential,
    thumbprint,
)
from guild_reputation.domain.credentials import Issuer, open_badge_credential

ISSUER = Issuer("https://skills.example.com", "Example Corp")


def _pem(private: Any) -> str:
    pem: bytes = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode()


def _award() -> Award:
    return Award(
        id="c1:ann:mentor:silver",
        community_id="c1",
        member_id="ann",
        badge=Badge.MENTOR.value,
        tier=Tier.SILVER,
        time=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    )


def test_the_key_id_is_the_rfc_7638_thumbprint() -> None:
    # The example key and thumbprint of RFC 7638, section 3.1.
    jwk = {
        "kty": "RSA",
        "e": "AQAB",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQ"
        "MicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr"
        "3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    }
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


KEY_MAKERS: dict[str, Callable[[], Any]] = {
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
}


@pytest.mark.parametrize("algorithm", sorted(KEY_MAKERS))
def test_each_key_type_signs_what_the_published_set_verifies(algorithm: str) -> None:
    key = load_signing_key(_pem(KEY_MAKERS[algorithm]()))
    assert key.algorithm == algorithm
    credential = open_badge_credential(_award(), ISSUER)
    token = signed_credential(credential, ISSUER, key, datetime(2026, 12, 6, tzinfo=UTC))
    published = jwt.PyJWKSet.from_dict(json.loads(json.dumps(public_key_set(key))))
    (verifying,) = published.keys
    assert (verifying.key_id, jwt.get_unverified_header(token)["kid"]) == (key.kid, key.kid)
    claims = jwt.decode(token, verifying.key, algorithms=[algorithm], issuer=ISSUER.url)
    assert claims["credentialSubject"] == credential["credentialSubject"]
    assert claims["nbf"] == int(datetime(2026, 11, 2, 9, 30, tzinfo=UTC).timestamp())
    other = load_signing_key(_pem(KEY_MAKERS[algorithm]()))
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, jwt.PyJWK(other.public_jwk).key, algorithms=[algorithm])


@pytest.mark.parametrize(
    "pem",
    [
        "not a key",
        _pem(ec.generate_private_key(ec.SECP384R1())),
        _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
    ],
)
def test_unsupported_keys_are_refused_by_name(pem: str) -> None:
    with pytest.raises(SigningKeyError):
        load_signing_key(pem)


def test_without_a_key_the_published_set_is_empty() -> None:
    assert public_key_set(None) == {"keys": []}

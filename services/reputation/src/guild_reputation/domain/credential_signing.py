"""Signing exported Open Badges credentials as VC-JWTs (``application/vc+jwt``), and publishing the key.

The organisation's private key (PEM: EC P-256, RSA or Ed25519) signs each credential; the JWT's claims
are the credential itself (W3C VC-JOSE-COSE for the Verifiable Credentials data model v2) plus the
registered claims a generic JWT verifier checks: ``iss`` (the issuer's id), ``jti`` (the credential's
id), ``iat`` and ``nbf``. The header names the key by ``kid``, its RFC 7638 thumbprint, which the issuer's
published key set (:func:`public_key_set`) lists. No I/O here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from guild_reputation.domain.credentials import Issuer

#: The members of each key type that its RFC 7638 thumbprint hashes.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


class SigningKeyError(ValueError):
    """The configured signing key is not a PEM private key of a supported type."""


@dataclass(frozen=True)
class SigningKey:
    private_key: Any
    algorithm: str
    kid: str
    public_jwk: dict[str, Any]


def load_signing_key(pem: str) -> SigningKey:
    """The key from its PEM text: ES256 for EC P-256, RS256 for RSA (2048 bits or more), EdDSA for Ed25519."""
    try:
        private = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError("the badge signing key is not an unencrypted PEM private key") from exc
    if isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(private.curve, ec.SECP256R1):
        algorithm, jwk = "ES256", ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    elif isinstance(private, rsa.RSAPrivateKey) and private.key_size >= 2048:
        algorithm, jwk = "RS256", RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        algorithm, jwk = "EdDSA", OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        raise SigningKeyError("the badge signing key must be EC P-256, RSA of 2048 bits or more, or Ed25519")
    kid = thumbprint(jwk)
    return SigningKey(private, algorithm, kid, {**jwk, "kid": kid, "use": "sig", "alg": algorithm})


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url without padding."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    digest = hashlib.sha256(json.dumps(members, sort_keys=True, separators=(",", ":")).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_credential(credential: dict[str, Any], issuer: Issuer, key: SigningKey, now: datetime) -> str:
    """The credential as a compact VC-JWT signed with ``key``."""
    valid_from = datetime.fromisoformat(str(credential["validFrom"]).replace("Z", "+00:00"))
    claims = {
        **credential,
        "iss": issuer.url,
        "jti": credential["id"],
        "iat": int(now.timestamp()),
        "nbf": int(valid_from.timestamp()),
    }
    headers = {"kid": key.kid, "typ": "vc+jwt", "cty": "vc"}
    return jwt.encode(claims, key.private_key, algorithm=key.algorithm, headers=headers)


def issuer_profile(issuer: Issuer) -> dict[str, Any]:
    """The Open Badges 3.0 issuer Profile the credentials name."""
    return {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ],
        "id": issuer.url,
        "type": ["Profile"],
        "name": issuer.name,
        "url": issuer.url,
    }


def public_key_set(key: SigningKey | None) -> dict[str, Any]:
    """The JSON Web Key Set verifiers check signed credentials against (empty without a key)."""
    return {"keys": [] if key is None else [key.public_jwk]}

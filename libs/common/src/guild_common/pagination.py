"""Opaque, signed cursor page tokens over an indexed sort key.

A token is ``<payload>.<tag>``: the payload is the position as compact JSON in unpadded URL-safe
base64, the tag the first 16 bytes of its HMAC-SHA256 under the deployment's page-token secret. A
token that does not verify (edited, truncated, made by another deployment, not base64, not an
object) is INVALID_ARGUMENT on its field and is never read, so no part of a position a caller made
up reaches a query.

The key is process-wide: :func:`configure_page_tokens` sets it from ``GUILD_PAGE_TOKEN_SECRET`` when
a service starts (:class:`guild_common.service.ServiceApp` does this), so every replica sharing the
secret accepts the others' tokens. Until then the development default is used, which a production
profile refuses (:mod:`guild_common.profile`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from guild_common.errors import FieldViolation, InvalidArgument

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items and the token of the next page (empty on the last)."""

    items: Sequence[T]
    next_token: str = ""


#: The development default of ``GUILD_PAGE_TOKEN_SECRET``.
DEV_PAGE_TOKEN_SECRET = "guild-dev-page-token-secret"
#: Longest token accepted; a real one is well under it.
MAX_TOKEN_LENGTH = 1024
_TAG_BYTES = 16

_key: bytes = DEV_PAGE_TOKEN_SECRET.encode()


def configure_page_tokens(secret: str) -> None:
    """Sign and verify page tokens of this process with ``secret`` (shared by every replica)."""
    global _key
    if not secret:
        raise ValueError("the page-token secret must not be empty")
    _key = secret.encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def _tag(payload: str) -> bytes:
    return hmac.new(_key, payload.encode("ascii"), hashlib.sha256).digest()[:_TAG_BYTES]


def encode_token(position: dict[str, Any]) -> str:
    """The signed token of ``position`` (a JSON object)."""
    payload = _b64(json.dumps(position, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_b64(_tag(payload))}"


def _invalid(field: str) -> InvalidArgument:
    return InvalidArgument(
        "invalid page token", violations=[FieldViolation(field, "not a token from this API")]
    )


def decode_token(token: str, field: str = "page_token") -> dict[str, Any]:
    """The position of a token made by :func:`encode_token`; ``{}`` for the first page (no token)."""
    if not token:
        return {}
    payload, dot, signature = token.partition(".")
    if len(token) > MAX_TOKEN_LENGTH or not dot or not payload.isascii() or not signature.isascii():
        raise _invalid(field)
    try:
        tag = _unb64(signature)
        if not hmac.compare_digest(tag, _tag(payload)):
            raise _invalid(field)
        value = json.loads(_unb64(payload))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise _invalid(field) from exc
    if not isinstance(value, dict):
        raise _invalid(field)
    return value


def clamp_page_size(requested: int, default: int, maximum: int, field: str = "page_size") -> int:
    if requested < 0:
        raise InvalidArgument("invalid page size", violations=[FieldViolation(field, "must not be negative")])
    if requested == 0:
        return default
    return min(requested, maximum)

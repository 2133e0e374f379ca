"""Opaque cursor page tokens over an indexed sort key."""

from __future__ import annotations

import base64
import json
from typing import Any

from guild_common.errors import FieldViolation, InvalidArgument


def encode_token(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, field: str = "page_token") -> dict[str, Any]:
    """Decode a token made by :func:`encode_token`; ``{}`` for the first page."""
    if not token:
        return {}
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(
            "invalid page token", violations=[FieldViolation(field, "not a token from this API")]
        ) from exc
    if not isinstance(value, dict):
        raise InvalidArgument("invalid page token", violations=[FieldViolation(field, "malformed")])
    return value


def clamp_page_size(requested: int, default: int, maximum: int, field: str = "page_size") -> int:
    if requested < 0:
        raise InvalidArgument("invalid page size", violations=[FieldViolation(field, "must not be negative")])
    if requested == 0:
        return default
    return min(requested, maximum)

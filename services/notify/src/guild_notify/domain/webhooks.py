"""Webhooks: endpoints of outside systems, URL rules, signatures and delivery states. Pure."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from guild_common.errors import FieldViolation

SIGNATURE_HEADER = "Guild-Webhook-Signature"
TIMESTAMP_HEADER = "Guild-Webhook-Timestamp"
ID_HEADER = "Guild-Webhook-Id"
MAX_EVENT_TYPES = 50
MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class Webhook:
    id: str
    owner_id: str
    url: str
    event_types: tuple[str, ...]
    secret: str
    create_time: datetime


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True)
class Attempt:
    attempt: int
    at: datetime
    status_code: int
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class Delivery:
    """One event for one webhook; ``id`` is ``<webhook id>:<event id>``, so an event is queued once."""

    id: str
    webhook_id: str
    owner_id: str
    event_id: str
    event_type: str
    body: str
    state: DeliveryState
    create_time: datetime
    next_attempt_time: datetime
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)
    # Attempts since it was queued or last replayed; the dead-letter limit counts these.
    round_attempts: int = 0


def delivery_id(webhook_id: str, event_id: str) -> str:
    return f"{webhook_id}:{event_id}"


def url_violations(url: str, allowed_hosts: frozenset[str], *, allow_http: bool) -> list[FieldViolation]:
    """What is wrong with a webhook URL: scheme, credentials, or a host off the allow-list."""
    name = "webhook.url"
    if not url or len(url) > MAX_URL_LENGTH:
        return [FieldViolation(name, f"must be a URL of at most {MAX_URL_LENGTH} characters")]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return [FieldViolation(name, "not a valid URL")]
    del port
    schemes = ("https", "http") if allow_http else ("https",)
    violations = []
    if parts.scheme not in schemes:
        violations.append(FieldViolation(name, f"scheme must be {' or '.join(schemes)}"))
    if parts.username or parts.password:
        violations.append(FieldViolation(name, "must not carry credentials"))
    if parts.fragment:
        violations.append(FieldViolation(name, "must not have a fragment"))
    host = (parts.hostname or "").lower()
    if not host:
        violations.append(FieldViolation(name, "must name a host"))
    elif host not in allowed_hosts:
        violations.append(FieldViolation(name, f"host {host!r} is not on the allow-list"))
    return violations


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256 over "<timestamp>.<body>">``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def verify_signature(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body), header)

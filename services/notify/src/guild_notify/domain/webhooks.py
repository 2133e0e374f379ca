"""Webhooks: endpoints of outside systems, URL rules, signatures and delivery states. Pure."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
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


DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class AllowedOrigin:
    """One allow-list entry: a host, its port (``None``: the default port of the URL's scheme) and its scheme
    (``None``: any scheme the service allows)."""

    host: str
    port: int | None = None
    scheme: str | None = None

    @classmethod
    def parse(cls, entry: str) -> AllowedOrigin:
        """``host``, ``host:port`` or an origin ``scheme://host[:port]`` (IPv6 hosts in brackets).

        Raises ValueError for an entry that names no host or a bad port or scheme."""
        text = entry.strip().lower()
        has_scheme = "://" in text
        parts = urlsplit(text if has_scheme else f"//{text}")
        try:
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise ValueError(f"not a valid port: {entry!r}") from exc
        if not host or parts.path or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"not a host, host:port or origin: {entry!r}")
        if not has_scheme:
            return cls(host, port)
        if parts.scheme not in DEFAULT_PORTS:
            raise ValueError(f"scheme must be https or http: {entry!r}")
        return cls(host, port if port is not None else DEFAULT_PORTS[parts.scheme], parts.scheme)

    def allows(self, scheme: str, host: str, port: int) -> bool:
        if self.scheme is not None and self.scheme != scheme:
            return False
        return self.host == host and (self.port if self.port is not None else DEFAULT_PORTS[scheme]) == port


def allow_list(entries: Iterable[str]) -> tuple[AllowedOrigin, ...]:
    """The allow-list from its entries (empty ones skipped); raises ValueError on a malformed entry."""
    return tuple(AllowedOrigin.parse(e) for e in entries if e.strip())


def url_violations(url: str, allowed: Iterable[AllowedOrigin], *, allow_http: bool) -> list[FieldViolation]:
    """What is wrong with a webhook URL: scheme, credentials, or an origin (host and port) off the allow-list.

    The port counts: a URL without one has its scheme's default port (443 for https, 80 for http), and an
    entry without one allows only that default port."""
    name = "webhook.url"
    if not url or len(url) > MAX_URL_LENGTH:
        return [FieldViolation(name, f"must be a URL of at most {MAX_URL_LENGTH} characters")]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return [FieldViolation(name, "not a valid URL")]
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
    elif parts.scheme in schemes:
        effective = port if port is not None else DEFAULT_PORTS[parts.scheme]
        if not any(origin.allows(parts.scheme, host, effective) for origin in allowed):
            violations.append(
                FieldViolation(name, f"host {host!r} on port {effective} is not on the allow-list")
            )
    return violations


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256 over "<timestamp>.<body>">``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def verify_signature(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body), header)

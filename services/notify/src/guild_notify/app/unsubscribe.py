"""Unsubscribe tokens: an HMAC over (member, topic), so a link in an email turns that email off.

A topic is a notification type, or :data:`DIGEST` for the digest emails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from guild_common.errors import FieldViolation, InvalidArgument
from guild_notify.domain.notifications import NotificationType

DIGEST = "digest"
Topic = NotificationType | str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UnsubscribeTokens:
    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, b"unsubscribe:" + payload, hashlib.sha256).digest()

    def issue(self, member_id: str, topic: Topic) -> str:
        payload = f"{member_id}\n{topic}".encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, token: str) -> tuple[str, Topic]:
        """The member and topic a token was issued for; INVALID_ARGUMENT if forged or malformed."""
        invalid = InvalidArgument(
            "invalid unsubscribe token", violations=[FieldViolation("token", "not issued by this service")]
        )
        try:
            body, mac = token.split(".", 1)
            payload = _unb64(body)
            if not hmac.compare_digest(_unb64(mac), self._mac(payload)):
                raise invalid
            member_id, topic = payload.decode().split("\n", 1)
            return member_id, (DIGEST if topic == DIGEST else NotificationType(topic))
        except (ValueError, UnicodeDecodeError) as exc:
            raise invalid from exc

"""Identifiers: random for new things, derived for idempotent creates."""

from __future__ import annotations

import uuid

_REQUEST_NAMESPACE = uuid.UUID("5b0b5b0e-6a8e-4f2a-9d55-6b1f7a0c2e11")


def new_id() -> str:
    """A fresh identifier (UUID4 hex, 32 characters)."""
    return uuid.uuid4().hex


def id_for_request(scope: str, caller: str, request_id: str) -> str:
    """A stable identifier for a create retried with the same ``request_id`` by the same caller."""
    return uuid.uuid5(_REQUEST_NAMESPACE, f"{scope}\x1f{caller}\x1f{request_id}").hex

"""The viewer's bearer token, taken from the request and forwarded as gRPC call metadata."""

from __future__ import annotations

import re

from starlette.requests import Request

# A JWT: three base64url parts; bounded so that no oversized header reaches the services.
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
MAX_TOKEN_CHARS = 8192

Metadata = tuple[tuple[str, str], ...]


class MissingToken(Exception):
    """The request carries no well-formed bearer token."""


def viewer_metadata(request: Request) -> Metadata:
    """``authorization`` metadata with the request's own bearer token; ``MissingToken`` without one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or len(token) > MAX_TOKEN_CHARS or not _TOKEN.fullmatch(token):
        raise MissingToken
    return (("authorization", f"Bearer {token}"),)

"""Webhook requests: the event forwarded as JSON, POSTed with a deadline and a bound on the response read."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC
from typing import Any

import httpx
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.json_format import MessageToDict

from guild_common.events.envelope import Envelope


class HttpxPoster:
    """One pooled client per process; redirects are not followed, so the allow-list cannot be escaped.

    Each post has one deadline for all of it (connect, send, the response's status and the bytes read of its
    body), and reads at most ``max_response_bytes`` of the body: a longer body is not read further and its
    connection is closed, a shorter one is read whole so the connection returns to the pool."""

    def __init__(self, deadline_seconds: float = 5.0, max_response_bytes: int = 4096) -> None:
        self._deadline = deadline_seconds
        self._max_response_bytes = max_response_bytes
        self._client = httpx.AsyncClient(timeout=deadline_seconds, follow_redirects=False)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        async with asyncio.timeout(self._deadline):
            async with self._client.stream("POST", url, content=body, headers=headers) as response:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= self._max_response_bytes:
                        break
                return response.status_code

    async def aclose(self) -> None:
        await self._client.aclose()


def event_json(envelope: Envelope) -> str:
    """The event as JSON: CloudEvents attributes and the payload decoded from protobuf."""
    data: Any
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(envelope.dataschema)
        message = message_factory.GetMessageClass(descriptor)()
        message.ParseFromString(envelope.data)
        data = MessageToDict(message, preserving_proto_field_name=True)
    except (KeyError, TypeError, ValueError):
        data = {"protobuf_base64": base64.b64encode(envelope.data).decode()}
    return json.dumps(
        {
            "id": envelope.id,
            "type": envelope.type,
            "source": envelope.source,
            "subject": envelope.subject,
            "time": envelope.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data": data,
        },
        separators=(",", ":"),
        sort_keys=True,
    )

"""Building blocks of the in-memory port implementations the fast service-layer tests run on, and of the
service they serve.

They keep the contract the MongoDB stores keep where the use cases can see it: lists come a page at a
time behind a signed token (``guild_common.pagination``), ordered by a key that ties never share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc

from guild_common.grpc.server import ServiceServer
from guild_common.pagination import Page, decode_token, encode_token
from guild_common.settings import ServiceSettings

T = TypeVar("T")
Key = tuple[str | int | float | datetime, ...]


def _encode(key: Key) -> list[Any]:
    return [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in key]


def _decode(values: list[Any]) -> Key:
    return tuple(datetime.fromisoformat(v["t"]) if isinstance(v, dict) else v for v in values)


def keyset_page(
    items: Iterable[T],
    key: Callable[[T], Key],
    page_token: str,
    page_size: int,
    *,
    descending: bool = False,
    field: str = "page_token",
) -> Page[T]:
    """The page of ``items`` after the token's position, ordered by ``key`` (unique per item).

    A token from another list or edited by hand is ``INVALID_ARGUMENT`` on ``field``, as in the stores."""
    if page_size <= 0:
        raise ValueError("page_size must be positive")
    after = decode_token(page_token, field).get("after")
    ordered = sorted(items, key=key, reverse=descending)
    if after is not None:
        position = _decode(after)
        ordered = [i for i in ordered if (key(i) < position if descending else key(i) > position)]
    page = ordered[:page_size]
    more = len(ordered) > page_size
    return Page(page, encode_token({"after": _encode(key(page[-1]))}) if more else "")


class SteppingClock:
    """A clock for use cases that moves ``step`` on each reading, so later commands happen at later times."""

    def __init__(
        self, start: datetime = datetime(2026, 3, 2, 9, 0, tzinfo=UTC), step: timedelta = timedelta(seconds=1)
    ) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        now = self.now
        self.now += self.step
        return now


@asynccontextmanager
async def serving_in_memory(
    settings: ServiceSettings, register: Callable[[grpc.aio.Server], list[str]]
) -> AsyncIterator[grpc.aio.Channel]:
    """A service's servicer, composed on in-memory ports by the caller's ``register``, served with the real
    request interceptor (tokens, limits, status details) in this process and event loop on a free loopback
    port; the channel to it. No workers run, and request ids are not bound to their first request (that
    record lives in MongoDB)."""

    async def healthy() -> bool:
        return True

    server = ServiceServer(settings, register=register, workers=[], healthy=healthy)
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield channel
    finally:
        await channel.close()
        await server.stop()

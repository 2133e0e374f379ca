"""Building blocks of the in-memory port implementations the fast service-layer tests run on.

They keep the contract the MongoDB stores keep where the use cases can see it: lists come a page at a
time behind a signed token (``guild_common.pagination``), ordered by a key that ties never share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from guild_common.pagination import Page, decode_token, encode_token

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

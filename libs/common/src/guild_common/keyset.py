"""Keyset pagination over ``(sort_field, _id)``: an index serves every page, however deep."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from pymongo.asynchronous.collection import AsyncCollection

from guild_common.errors import FieldViolation, InvalidArgument
from guild_common.mongo import Document
from guild_common.pagination import Page, decode_token, encode_token

T = TypeVar("T")


def _encode(value: Any) -> dict[str, Any]:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return {"v": value}


_SCALARS = (str, int, float, bool, type(None))


def _decode(position: dict[str, Any], field: str) -> tuple[Any, Any]:
    """The sort value and ``_id`` a token holds, checked: a token is input, so nothing in it may reach
    the store as anything but a plain value (an object such as ``{"$ne": null}`` would be an operator)."""
    after_id = position.get("id")
    if "t" in position:
        try:
            after = datetime.fromisoformat(position["t"])
        except (TypeError, ValueError):
            after = None
        ok = after is not None
    else:
        after = position.get("v")
        ok = isinstance(after, _SCALARS)
    if not ok or not isinstance(after_id, str | int) or isinstance(after_id, bool):
        raise InvalidArgument("invalid page token", violations=[FieldViolation(field, "malformed")])
    return after, after_id


async def keyset_page(
    collection: AsyncCollection[Document],
    query: Mapping[str, Any],
    *,
    sort_field: str,
    descending: bool,
    page_size: int,
    page_token: str,
    projection: Mapping[str, Any] | None = None,
) -> tuple[list[Document], str]:
    """One page of documents and the token of the next page ("" on the last)."""
    position = decode_token(page_token)
    filters: dict[str, Any] = dict(query)
    if position:
        after, after_id = _decode(position, "page_token")
        op = "$lt" if descending else "$gt"
        filters["$or"] = [{sort_field: {op: after}}, {sort_field: after, "_id": {op: after_id}}]
    direction = -1 if descending else 1
    cursor = (
        collection.find(filters, projection)
        .sort([(sort_field, direction), ("_id", direction)])
        .limit(page_size + 1)
    )
    docs = await cursor.to_list()
    next_token = ""
    if len(docs) > page_size:
        last = docs[page_size - 1]
        next_token = encode_token({**_encode(last[sort_field]), "id": last["_id"]})
    return docs[:page_size], next_token


async def keyset_items(
    collection: AsyncCollection[Document],
    query: Mapping[str, Any],
    convert: Callable[[Document], T],
    *,
    sort_field: str,
    descending: bool,
    page_size: int,
    page_token: str,
    projection: Mapping[str, Any] | None = None,
) -> Page[T]:
    """:func:`keyset_page` with each document converted to the store's value."""
    docs, next_token = await keyset_page(
        collection,
        query,
        sort_field=sort_field,
        descending=descending,
        page_size=page_size,
        page_token=page_token,
        projection=projection,
    )
    return Page([convert(doc) for doc in docs], next_token)

"""Keyset pages: every document once across pages; a tampered token is INVALID_ARGUMENT, never a query."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from guild_common.errors import InvalidArgument
from guild_common.keyset import keyset_items, keyset_page
from guild_common.mongo import Document
from guild_common.pagination import encode_token
from guild_testing.fixtures import Infra

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest_asyncio.fixture
async def coll(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[AsyncCollection[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    db = client["t_keyset_" + request.node.name[:40]]
    await db.drop_collection("posts")
    await db.posts.insert_many(
        [
            {"_id": f"p{i:02d}", "c": "c1", "t": START + timedelta(minutes=i // 2), "n": i % 3}
            for i in range(25)
        ]
    )
    yield db.posts
    await client.close()


async def _all_pages(coll: AsyncCollection[Document], sort_field: str) -> list[str]:
    seen: list[str] = []
    token = ""
    while True:
        docs, token = await keyset_page(
            coll, {"c": "c1"}, sort_field=sort_field, descending=True, page_size=4, page_token=token
        )
        seen += [d["_id"] for d in docs]
        if not token:
            return seen


@pytest.mark.parametrize("sort_field", ["t", "n"])
async def test_pages_hold_every_document_once_in_order(
    coll: AsyncCollection[Document], sort_field: str
) -> None:
    seen = await _all_pages(coll, sort_field)
    assert sorted(seen) == [f"p{i:02d}" for i in range(25)]
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "position",
    [
        {"v": {"$ne": None}, "id": "p01"},
        {"v": [1, 2], "id": "p01"},
        {"v": 1, "id": {"$gt": ""}},
        {"v": 1},
        {"t": "not a time", "id": "p01"},
        {"t": 5, "id": "p01"},
        {"v": 1, "id": True},
    ],
)
async def test_a_tampered_token_is_invalid_argument(
    coll: AsyncCollection[Document], position: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await keyset_page(
            coll, {"c": "c1"}, sort_field="n", descending=True, page_size=4, page_token=encode_token(position)
        )
    assert [v.field for v in caught.value.violations] == ["page_token"]


async def test_keyset_items_converts_each_document_and_keeps_the_token(
    coll: AsyncCollection[Document],
) -> None:
    first = await keyset_items(
        coll,
        {"c": "c1"},
        lambda d: d["_id"].upper(),
        sort_field="t",
        descending=False,
        page_size=3,
        page_token="",
    )
    assert list(first.items) == ["P00", "P01", "P02"]
    second = await keyset_items(
        coll,
        {"c": "c1"},
        lambda d: d["_id"].upper(),
        sort_field="t",
        descending=False,
        page_size=3,
        page_token=first.next_token,
    )
    assert list(second.items) == ["P03", "P04", "P05"]

"""Guarded read-modify-write against the real store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from guild_common.atomic import (
    NO_CHANGE,
    Builder,
    ConcurrentChange,
    Document,
    NoChange,
    update_guarded,
    upsert_by_id,
)
from guild_testing.fixtures import Infra


@pytest_asyncio.fixture
async def coll(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[AsyncCollection[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    db = client["t_atomic_" + request.node.name[:40]]
    await db.drop_collection("docs")
    yield db["docs"]
    await client.close()


def _append(item: str) -> Builder:
    """A change that needs the current state: keep a list without duplicates, in arrival order."""

    def build(doc: Document | None) -> dict[str, object] | NoChange:
        items = list((doc or {}).get("items", []))
        if item in items:
            return NO_CHANGE
        return {"$set": {"items": [*items, item], "count": len(items) + 1}}

    return build


async def test_concurrent_changes_built_from_the_state_are_all_kept(coll: AsyncCollection[Document]) -> None:
    names = [f"m{i}" for i in range(24)]
    await asyncio.gather(*(update_guarded(coll, "d", _append(n)) for n in names + names[:6]))
    doc = await coll.find_one({"_id": "d"})
    assert doc is not None
    assert sorted(doc["items"]) == sorted(names)
    assert doc["count"] == len(names)
    assert doc["version"] == len(names)


async def test_many_writers_on_three_clients_all_succeed(
    infra: Infra, coll: AsyncCollection[Document]
) -> None:
    # Three clients (three replicas' connection pools), 60 changes at once to one document: with retries
    # that all fire at once, the last few writers could lose every race; the backoff lets each one win.
    clients: list[AsyncMongoClient[Document]] = [AsyncMongoClient(infra.mongo_uri) for _ in range(3)]
    try:
        colls = [c[coll.database.name][coll.name] for c in clients]
        names = [f"m{i}" for i in range(60)]
        await asyncio.gather(*(update_guarded(colls[i % 3], "d", _append(n)) for i, n in enumerate(names)))
    finally:
        for client in clients:
            await client.close()
    doc = await coll.find_one({"_id": "d"})
    assert doc is not None
    assert sorted(doc["items"]) == sorted(names)
    assert doc["version"] == len(names)


async def test_no_change_writes_nothing(coll: AsyncCollection[Document]) -> None:
    await coll.insert_one({"_id": "d", "items": ["a"], "version": 3})
    after = await update_guarded(coll, "d", _append("a"))
    assert after is not None
    assert after["version"] == 3


async def test_gives_up_when_every_attempt_loses(coll: AsyncCollection[Document]) -> None:
    await coll.insert_one({"_id": "d", "n": 0})

    async def meddling(doc: Document | None) -> dict[str, object]:
        await coll.update_one({"_id": "d"}, {"$inc": {"version": 1}})  # another writer, every time
        return {"$inc": {"n": 1}}

    with pytest.raises(ConcurrentChange):
        await update_guarded(coll, "d", meddling, attempts=3)
    doc = await coll.find_one({"_id": "d"})
    assert doc is not None
    assert doc["n"] == 0


async def test_a_projected_read_still_guards_by_version(coll: AsyncCollection[Document]) -> None:
    await coll.insert_one({"_id": "d", "items": [], "big": "x" * 1000, "version": 1})
    seen: list[Document | None] = []

    def build(doc: Document | None) -> dict[str, object]:
        seen.append(doc)
        return {"$push": {"items": "a"}}

    after = await update_guarded(coll, "d", build, projection={"big": 0})
    assert seen[0] is not None
    assert "big" not in seen[0]
    assert seen[0]["version"] == 1
    assert after is not None
    assert after["items"] == ["a"]
    assert after["version"] == 2
    await update_guarded(coll, "d", build, projection={"items": 1})
    doc = await coll.find_one({"_id": "d"})
    assert doc is not None
    assert doc["items"] == ["a", "a"]


async def test_first_upserts_racing_on_one_id_all_apply(
    infra: Infra, coll: AsyncCollection[Document]
) -> None:
    clients: list[AsyncMongoClient[Document]] = [AsyncMongoClient(infra.mongo_uri) for _ in range(3)]
    try:
        colls = [c[coll.database.name][coll.name] for c in clients]
        for round_ in range(5):  # each round creates a new document from 30 writers at once
            await asyncio.gather(
                *(upsert_by_id(colls[i % 3], f"d{round_}", {"$inc": {"n": 1}}) for i in range(30))
            )
    finally:
        for client in clients:
            await client.close()
    assert [doc["n"] async for doc in coll.find({}, sort=[("_id", 1)])] == [30] * 5

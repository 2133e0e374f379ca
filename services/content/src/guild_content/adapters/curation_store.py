"""Collections, their followers and featured items in MongoDB.

A collection is one document holding its ordered items; a change to it (items, order, publication) is
built from the stored collection and written guarded by the ``version`` it was built from
(:func:`guild_common.atomic.update_guarded`), so a reorder replaces the whole order at once and concurrent
changes are rebuilt, never lost. Follows are their own documents (``<collection>:<member>``); a follow
inserted counts ``+1`` into ``follower_count`` (with ``collection_followed`` naming the new count, in a
write guarded by the count), a follow deleted ``-1``. A featured item is one document per community, kind
and item, switched on and off by writes guarded by ``active``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.atomic import update_guarded
from guild_common.errors import Aborted, NotFound
from guild_common.events.outbox import (
    OutboxWake,
    merge_updates,
    outbox_fields,
    outbox_indexes,
    outbox_update,
)
from guild_common.keyset import keyset_items
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_common.pagination import Page
from guild_content.adapters.counter_writes import Change, CounterWriter, Values, as_int
from guild_content.adapters.duplicate_marks_store import DuplicateMarks
from guild_content.adapters.outbound_events import to_envelopes
from guild_content.domain.community import CommunityView
from guild_content.domain.curation import Collection, CollectionFollowed, CollectionItem, Feature

COLLECTIONS = "collections"
COLLECTION_FOLLOWS = "collection_follows"
FEATURES = "featured_items"
OUTBOX_COLLECTIONS = [COLLECTIONS, FEATURES]
SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(COLLECTIONS, [("community_id", 1), ("published", 1), ("create_time", -1), ("_id", -1)]),
        IndexSpec(COLLECTION_FOLLOWS, [("collection_id", 1)]),
        IndexSpec(FEATURES, [("community_id", 1), ("active", 1), ("feature_time", -1), ("_id", -1)]),
        *outbox_indexes(OUTBOX_COLLECTIONS),
    ],
    outbox_collections=OUTBOX_COLLECTIONS,
)
_NO_OUTBOX = {"outbox": 0}
FOLLOWER_COUNT = "follower_count"
FEATURE_ATTEMPTS = 4


def _item_doc(i: CollectionItem) -> Document:
    return {
        "id": i.id,
        "kind": i.kind,
        "post_id": i.post_id,
        "url": i.url,
        "title": i.title,
        "note": i.note,
        "position": i.position,
        "add_time": i.add_time,
    }


def _state(c: Collection) -> Document:
    """The fields a change to a collection may touch."""
    return {
        "title": c.title,
        "description": c.description,
        "items": [_item_doc(i) for i in c.items],
        "published": c.published,
        "publish_time": c.publish_time,
        "update_time": c.update_time,
    }


def _collection_doc(c: Collection) -> Document:
    return {
        "_id": c.id,
        "community_id": c.community_id,
        "curator_id": c.curator_id,
        "create_time": c.create_time,
        "follower_count": c.follower_count,
        **_state(c),
    }


def _collection(doc: Document) -> Collection:
    items = [
        CollectionItem(
            id=i["id"],
            kind=i["kind"],
            post_id=i.get("post_id", ""),
            url=i.get("url", ""),
            title=i.get("title", ""),
            note=i.get("note", ""),
            position=int(i["position"]),
            add_time=i["add_time"],
        )
        for i in doc.get("items", [])
    ]
    return Collection(
        id=doc["_id"],
        community_id=doc["community_id"],
        curator_id=doc["curator_id"],
        title=doc["title"],
        description=doc.get("description", ""),
        create_time=doc["create_time"],
        items=sorted(items, key=lambda i: i.position),
        published=bool(doc.get("published", False)),
        publish_time=doc.get("publish_time"),
        update_time=doc.get("update_time"),
        follower_count=int(doc.get("follower_count", 0)),
    )


def _feature(doc: Document) -> Feature:
    return Feature(
        community_id=doc["community_id"],
        item_kind=doc["item_kind"],
        item_id=doc["item_id"],
        title=doc.get("title", ""),
        author_id=doc.get("author_id", ""),
        featured_by=doc["featured_by"],
        feature_time=doc["feature_time"],
    )


class MongoCurationRepository(DuplicateMarks):
    """Collections, follows and featured items; and duplicate marks on questions (``DuplicateMarks``)."""

    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake) -> None:
        super().__init__(db, on_events)
        self._collections = db[COLLECTIONS]
        self._follows = db[COLLECTION_FOLLOWS]
        self._features = db[FEATURES]
        self._on_events = on_events
        self._counters = CounterWriter()

    async def add_collection(self, collection: Collection) -> Collection:
        """Store a new collection; returns the stored one if the id exists already."""
        try:
            await self._collections.insert_one({**_collection_doc(collection), **outbox_fields([])})
        except DuplicateKeyError:
            stored = await self.get_collection(collection.id)
            assert stored is not None
            return stored
        return collection

    async def get_collection(self, collection_id: str) -> Collection | None:
        doc = await self._collections.find_one({"_id": collection_id}, _NO_OUTBOX)
        return _collection(doc) if doc else None

    async def change_collection(
        self, collection_id: str, change: Callable[[Collection], object], community: CommunityView
    ) -> Collection:
        """Apply ``change`` to the stored collection and store the result with its events, atomically.

        ``change`` runs again on the new state if the collection changed meanwhile: no side effects.
        """
        built: list[Collection] = []

        def build(doc: Document | None) -> Document:
            if doc is None:
                raise NotFound(f"collection {collection_id} not found", reason="COLLECTION_NOT_FOUND")
            collection = _collection(doc)
            change(collection)
            built[:] = [collection]
            update: Document = {"$set": _state(collection)}
            if collection.events:
                update = merge_updates(update, outbox_update(to_envelopes(collection.events, community)))
            return update

        await update_guarded(self._collections, collection_id, build)
        collection = built[0]
        if collection.events:
            collection.events.clear()
            self._on_events(COLLECTIONS, collection_id)
        return collection

    async def list_collections(
        self, community_id: str, published: bool, page_size: int, page_token: str
    ) -> Page[Collection]:
        return await keyset_items(
            self._collections,
            {"community_id": community_id, "published": published},
            sort_field="create_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection=_NO_OUTBOX,
            convert=_collection,
        )

    async def set_following(
        self, collection: Collection, member_id: str, follow: bool, now: datetime, community: CommunityView
    ) -> int:
        """Record or drop the member's follow; returns the number of followers after it.

        A new follow counts in with ``collection_followed`` (naming the new count) in the same write.
        """
        follow_id = f"{collection.id}:{member_id}"
        if not follow:
            if (await self._follows.delete_one({"_id": follow_id})).deleted_count != 1:
                return await self._follower_count(collection.id)
            after = await self._collections.find_one_and_update(
                {"_id": collection.id}, {"$inc": {FOLLOWER_COUNT: -1}}, return_document=ReturnDocument.AFTER
            )
            return as_int(after.get(FOLLOWER_COUNT)) if after else 0
        try:
            await self._follows.insert_one(
                {"_id": follow_id, "collection_id": collection.id, "member_id": member_id, "time": now}
            )
        except DuplicateKeyError:  # following already: counted when it began
            return await self._follower_count(collection.id)

        def step(current: Values) -> Change:
            count = as_int(current[FOLLOWER_COUNT]) + 1
            event = CollectionFollowed(collection, member_id, count, now)
            return Change(inc={FOLLOWER_COUNT: 1}, events=to_envelopes([event], community))

        outcome = await self._counters.change(self._collections, collection.id, [FOLLOWER_COUNT], step)
        self._on_events(COLLECTIONS, collection.id)
        return as_int(outcome.values[FOLLOWER_COUNT]) if outcome else 0

    async def _follower_count(self, collection_id: str) -> int:
        doc = await self._collections.find_one({"_id": collection_id}, {FOLLOWER_COUNT: 1})
        return as_int(doc.get(FOLLOWER_COUNT)) if doc else 0

    async def is_following(self, collection_id: str, member_id: str) -> bool:
        return await self._follows.find_one({"_id": f"{collection_id}:{member_id}"}, {"_id": 1}) is not None

    async def feature(self, feature: Feature, community: CommunityView) -> Feature:
        """Put the item on the front page with ``item_featured``; an item featured already stays as it is."""
        fields = {
            "community_id": feature.community_id,
            "item_kind": feature.item_kind,
            "item_id": feature.item_id,
            "title": feature.title,
            "author_id": feature.author_id,
            "featured_by": feature.featured_by,
            "feature_time": feature.feature_time,
            "active": True,
        }
        update = merge_updates({"$set": fields}, outbox_update(to_envelopes(feature.events, community)))
        for _ in range(FEATURE_ATTEMPTS):
            try:  # switched on only if off (or new): the filter and the write are one atomic operation
                await self._features.update_one(
                    {"_id": feature.id, "active": {"$ne": True}}, update, upsert=True
                )
                break
            except DuplicateKeyError:  # on already, unless switched off again in between
                doc = await self._features.find_one({"_id": feature.id}, _NO_OUTBOX)
                if doc is not None and doc.get("active"):
                    return _feature(doc)
        else:
            raise Aborted("the item was unfeatured concurrently; retry", reason="CONCURRENT_UPDATE")
        feature.events.clear()
        self._on_events(FEATURES, feature.id)
        return feature

    async def unfeature(self, feature_id: str) -> bool:
        """Take the item off the front page; False if it was not on it."""
        result = await self._features.update_one(
            {"_id": feature_id, "active": True}, {"$set": {"active": False}}
        )
        return result.modified_count == 1

    async def list_features(self, community_id: str, page_size: int, page_token: str) -> Page[Feature]:
        return await keyset_items(
            self._features,
            {"community_id": community_id, "active": True},
            sort_field="feature_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection=_NO_OUTBOX,
            convert=_feature,
        )

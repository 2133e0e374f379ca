"""Shared resources and their ratings in MongoDB.

A resource is unique per community and normalised URL (a unique index), so sharing a URL twice finds the
first. A rating is its own document (``<item>:<member>``); the item's summary is recounted from the ratings
(``$group`` by stars) under the item's lock after each rating, so it always equals what the ratings say.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.doclocks import document_lock
from guild_common.events.outbox import (
    OutboxWake,
    merge_updates,
    outbox_fields,
    outbox_indexes,
    outbox_update,
)
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec
from guild_content.adapters.events import to_envelopes
from guild_content.app.ports import IndexedResource, ResourcePage, ReviewPage
from guild_content.domain.model import (
    CommunityView,
    ItemMarkedOutdated,
    ItemRated,
    RatingSummary,
    Resource,
    Review,
)
from guild_content.domain.search import IndexedText

RESOURCES = "resources"
RATINGS = "ratings"
OUTDATED_MARKS = "outdated_marks"
INDEXES = [
    IndexSpec(RESOURCES, [("community_id", 1), ("url", 1)], unique=True),
    IndexSpec(RESOURCES, [("community_id", 1), ("create_time", -1), ("_id", -1)]),
    IndexSpec(RESOURCES, [("community_id", 1), ("activity_time", -1), ("_id", -1)]),
    IndexSpec(RESOURCES, [("community_id", 1), ("rating_rank", -1), ("_id", -1)]),
    IndexSpec(RESOURCES, [("community_id", 1), ("score", -1), ("_id", -1)]),
    IndexSpec(RESOURCES, [("terms", 1), ("community_id", 1), ("create_time", -1), ("_id", -1)]),
    IndexSpec(RATINGS, [("item_id", 1), ("stars", 1)]),
    IndexSpec(RATINGS, [("item_id", 1), ("rate_time", -1), ("_id", -1)]),
    IndexSpec(OUTDATED_MARKS, [("item_id", 1)]),
    IndexSpec(RESOURCES, [("community_id", 1), ("outdated_count", -1), ("_id", -1)]),
    *outbox_indexes([RESOURCES]),
]
_NO_OUTBOX = {"outbox": 0}


def _rank(rating: RatingSummary, create_time: datetime) -> str:
    """A sort key for best rated first: average, then count, then newest (fixed-width text)."""
    return f"{rating.average:07.4f}:{rating.count:010d}:{create_time.timestamp():017.3f}"


def _resource_doc(r: Resource) -> Document:
    return {
        "_id": r.id,
        "community_id": r.community_id,
        "author_id": r.author_id,
        "url": r.url,
        "title": r.title,
        "summary": r.summary,
        "media_type": r.media_type,
        "tags": r.tags,
        "create_time": r.create_time,
        "activity_time": r.create_time,
        **_rating_fields(r.rating, r.create_time),
        **_search_fields(r),
    }


def _search_fields(r: Resource) -> Document:
    indexed = IndexedText.of(r.title, r.summary, r.tags)
    return {"terms": indexed.terms, "title_terms": indexed.title_terms}


def _rating_fields(rating: RatingSummary, create_time: datetime) -> Document:
    return {
        "rating": {
            "average": rating.average,
            "count": rating.count,
            "distribution": list(rating.distribution),
        },
        "rating_rank": _rank(rating, create_time),
        # What the top-of-the-week and -month feeds rank resources by, beside posts' vote scores.
        "score": rating.score,
    }


def _resource(doc: Document) -> Resource:
    rating = doc.get("rating") or {}
    d = list(rating.get("distribution", [0, 0, 0, 0, 0]))
    return Resource(
        id=doc["_id"],
        community_id=doc["community_id"],
        author_id=doc["author_id"],
        url=doc["url"],
        title=doc["title"],
        summary=doc.get("summary", ""),
        media_type=doc.get("media_type", "other"),
        tags=list(doc.get("tags", [])),
        create_time=doc["create_time"],
        outdated_count=int(doc.get("outdated_count", 0)),
        rating=RatingSummary(
            float(rating.get("average", 0.0)), int(rating.get("count", 0)), (d[0], d[1], d[2], d[3], d[4])
        ),
    )


class MongoResourceRepository:
    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake) -> None:
        self._resources = db[RESOURCES]
        self._ratings = db[RATINGS]
        self._outdated = db[OUTDATED_MARKS]
        self._on_events = on_events

    async def add_resource(self, resource: Resource, community: CommunityView) -> tuple[Resource, bool]:
        """Store a new resource with its events; (stored resource, False) if the id or URL exists already."""
        envelopes = to_envelopes(resource.events, community)
        try:
            await self._resources.insert_one({**_resource_doc(resource), **outbox_fields(envelopes)})
        except DuplicateKeyError:
            by_id = await self.get_resource(resource.id)
            if by_id is not None:
                return by_id, by_id.url != resource.url
            doc = await self._resources.find_one(
                {"community_id": resource.community_id, "url": resource.url}, _NO_OUTBOX
            )
            assert doc is not None
            return _resource(doc), True
        resource.events.clear()
        self._on_events(RESOURCES, resource.id)
        return resource, False

    async def backfill(self) -> int:
        """Give resources stored before search and top feeds covered them their terms and score.

        Run at start-up; a no-op once every resource has both. Returns the number of resources changed.
        """
        changed = 0
        missing = self._resources.find(
            {"$or": [{"terms": {"$exists": False}}, {"score": {"$exists": False}}]}, {"_id": 1}
        )
        async for stub in missing:
            async with document_lock(RESOURCES, stub["_id"]):
                doc = await self._resources.find_one({"_id": stub["_id"]}, _NO_OUTBOX)
                if doc is None:
                    continue
                resource = _resource(doc)
                fields = {"score": resource.rating.score, **_search_fields(resource)}
                result = await self._resources.update_one({"_id": stub["_id"]}, {"$set": fields})
            changed += result.modified_count
        return changed

    async def get_resource(self, resource_id: str) -> Resource | None:
        doc = await self._resources.find_one({"_id": resource_id}, _NO_OUTBOX)
        return _resource(doc) if doc else None

    async def list_resources(
        self, community_id: str, top_rated: bool, page_size: int, page_token: str
    ) -> ResourcePage:
        docs, next_token = await keyset_page(
            self._resources,
            {"community_id": community_id},
            sort_field="rating_rank" if top_rated else "create_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection=_NO_OUTBOX,
        )
        return ResourcePage([_resource(d) for d in docs], next_token)

    async def rate(
        self, item: Resource, rater_id: str, stars: int, review: str, now: datetime, community: CommunityView
    ) -> tuple[int, RatingSummary]:
        """Store the member's rating and the item's recounted summary; returns (previous stars, summary)."""
        rating_id = f"{item.id}:{rater_id}"
        async with document_lock(RATINGS, rating_id):
            doc = await self._ratings.find_one({"_id": rating_id}, {"stars": 1})
            previous = int(doc["stars"]) if doc else 0
            await self._ratings.update_one(
                {"_id": rating_id},
                {
                    "$set": {
                        "item_id": item.id,
                        "rater_id": rater_id,
                        "stars": stars,
                        "review": review,
                        "rate_time": now,
                    }
                },
                upsert=True,
            )
            async with document_lock(RESOURCES, item.id):
                cursor = await self._ratings.aggregate(
                    [{"$match": {"item_id": item.id}}, {"$group": {"_id": "$stars", "n": {"$sum": 1}}}]
                )
                summary = RatingSummary.of({int(r["_id"]): int(r["n"]) for r in await cursor.to_list()})
                event = ItemRated(item.ref(), rater_id, stars, previous, summary, now)
                await self._resources.update_one(
                    {"_id": item.id},
                    merge_updates(
                        {"$set": _rating_fields(summary, item.create_time)},
                        outbox_update(to_envelopes([event], community)),
                    ),
                )
        self._on_events(RESOURCES, item.id)
        return previous, summary

    async def list_reviews(self, item_id: str, page_size: int, page_token: str) -> ReviewPage:
        docs, next_token = await keyset_page(
            self._ratings,
            {"item_id": item_id},
            sort_field="rate_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
        )
        reviews = [
            Review(d["item_id"], d["rater_id"], int(d["stars"]), d.get("review", ""), d["rate_time"])
            for d in docs
        ]
        return ReviewPage(reviews, next_token)

    async def mark_outdated(
        self, item: Resource, member_id: str, now: datetime, community: CommunityView
    ) -> int:
        """Record the member's mark once and store the recounted number of marks (with an event if new)."""
        try:
            await self._outdated.insert_one(
                {"_id": f"{item.id}:{member_id}", "item_id": item.id, "member_id": member_id, "time": now}
            )
            new = True
        except DuplicateKeyError:
            new = False
        async with document_lock(RESOURCES, item.id):
            count = await self._outdated.count_documents({"item_id": item.id})
            update: Document = {"$set": {"outdated_count": count}}
            if new:
                event = ItemMarkedOutdated(item.ref(), member_id, count, now)
                update = merge_updates(update, outbox_update(to_envelopes([event], community)))
            await self._resources.update_one({"_id": item.id}, update)
        if new:
            self._on_events(RESOURCES, item.id)
        return count

    async def list_outdated(self, community_id: str, page_size: int, page_token: str) -> ResourcePage:
        docs, next_token = await keyset_page(
            self._resources,
            {"community_id": community_id, "outdated_count": {"$gt": 0}},
            sort_field="outdated_count",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection=_NO_OUTBOX,
        )
        return ResourcePage([_resource(d) for d in docs], next_token)

    async def search_candidates(
        self, community_ids: list[str], query_terms: list[str], tag: str, limit: int
    ) -> list[IndexedResource]:
        """Resources of the communities having a term of the query: one lookup per term on
        ``(terms, community_id, create_time, _id)``, each the newest ``limit``; each resource once."""
        base: Document = {"community_id": {"$in": community_ids}}
        if tag:
            base["tags"] = tag

        async def lookup(term: str) -> list[Document]:
            cursor = (
                self._resources.find({"terms": term, **base}, _NO_OUTBOX)
                .sort([("create_time", -1), ("_id", -1)])
                .limit(limit)
            )
            return await cursor.to_list()

        found: dict[str, IndexedResource] = {}
        for docs in await asyncio.gather(*(lookup(term) for term in query_terms)):
            for d in docs:
                if d["_id"] not in found:
                    found[d["_id"]] = IndexedResource(
                        _resource(d), list(d.get("terms", [])), list(d.get("title_terms", []))
                    )
        return list(found.values())

"""Shared resources and their ratings in MongoDB.

A resource is unique per community and normalised URL (a unique index), so sharing a URL twice finds the
first. A rating is its own document (``<item>:<member>``), replaced by one atomic write that returns the
rating it replaced; the item keeps the number of ratings per star (``rating.distribution``) as counters,
moved by each change in one write guarded by the counts it read, with ``item_rated`` (which names the new
average and count) in that write. Marks of an item as outdated are unique documents; each new one counts
once into ``outdated_count``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.events.outbox import (
    OutboxWake,
    outbox_fields,
    outbox_indexes,
)
from guild_common.keyset import keyset_items, keyset_page
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_common.pagination import Page
from guild_content.adapters.counter_writes import Change, CounterWriter, Values, as_int
from guild_content.adapters.outbound_events import to_envelopes
from guild_content.app.ports import IndexedResource
from guild_content.domain.community import CommunityView
from guild_content.domain.resources import ItemMarkedOutdated, ItemRated, RatingSummary, Resource, Review
from guild_content.domain.search import IndexedText

RESOURCES = "resources"
RATINGS = "ratings"
OUTDATED_MARKS = "outdated_marks"
SCHEMA = StoreSchema(
    indexes=[
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
    ],
    outbox_collections=[RESOURCES],
)
_NO_OUTBOX = {"outbox": 0}
# The item's number of ratings per star, 1 to 5: the counters its rating summary is made of.
DISTRIBUTION = "rating.distribution"
OUTDATED_COUNT = "outdated_count"


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


def _rating_fields(rating: RatingSummary, create_time: datetime, *, prefix: bool = False) -> Document:
    """The stored rating; with ``prefix`` as dotted paths (``rating.average``), for ``$set``."""
    summary = {"average": rating.average, "count": rating.count, "distribution": list(rating.distribution)}
    fields: Document = {f"rating.{k}": v for k, v in summary.items()} if prefix else {"rating": summary}
    return {
        **fields,
        "rating_rank": _rank(rating, create_time),
        # What the top-of-the-week and -month feeds rank resources by, beside posts' vote scores.
        "score": rating.score,
    }


def _summary(distribution: list[int]) -> RatingSummary:
    """The summary of the number of ratings per star, 1 to 5."""
    counts = list(distribution or [0, 0, 0, 0, 0])
    return RatingSummary.of({stars: counts[stars - 1] for stars in range(1, 6)})


def resource_from(doc: Document) -> Resource:
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
        self._counters = CounterWriter()

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
            return resource_from(doc), True
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
            doc = await self._resources.find_one({"_id": stub["_id"]}, _NO_OUTBOX)
            if doc is None:
                continue
            resource = resource_from(doc)
            fields = {"score": resource.rating.score, **_search_fields(resource)}
            # Guarded by the ratings it was computed from; one rated meanwhile is done at the next start.
            distribution = (doc.get("rating") or {}).get("distribution")
            rated = {"$exists": False} if distribution is None else distribution
            result = await self._resources.update_one(
                {"_id": stub["_id"], "rating.distribution": rated}, {"$set": fields}
            )
            changed += result.modified_count
        return changed

    async def get_resource(self, resource_id: str) -> Resource | None:
        doc = await self._resources.find_one({"_id": resource_id}, _NO_OUTBOX)
        return resource_from(doc) if doc else None

    async def list_resources(
        self, community_id: str, top_rated: bool, page_size: int, page_token: str
    ) -> Page[Resource]:
        return await keyset_items(
            self._resources,
            {"community_id": community_id},
            sort_field="rating_rank" if top_rated else "create_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection=_NO_OUTBOX,
            convert=resource_from,
        )

    async def rate(
        self, item: Resource, rater_id: str, stars: int, review: str, now: datetime, community: CommunityView
    ) -> tuple[int, RatingSummary]:
        """Store the member's rating and move the item's counts by it; returns (previous stars, summary)."""
        replaced = await self._ratings.find_one_and_update(
            {"_id": f"{item.id}:{rater_id}"},
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
            return_document=ReturnDocument.BEFORE,
        )
        previous = int(replaced["stars"]) if replaced else 0

        def step(current: Values) -> Change:
            counts = list(current[DISTRIBUTION] or [0, 0, 0, 0, 0])
            if previous:
                counts[previous - 1] -= 1
            counts[stars - 1] += 1
            summary = _summary(counts)
            event = ItemRated(item.ref(), rater_id, stars, previous, summary, now)
            return Change(
                set=_rating_fields(summary, item.create_time, prefix=True),
                events=to_envelopes([event], community),
            )

        outcome = await self._counters.change(self._resources, item.id, [DISTRIBUTION], step)
        self._on_events(RESOURCES, item.id)
        return previous, _summary(outcome.values[DISTRIBUTION] if outcome else [])

    async def list_reviews(self, item_id: str, page_size: int, page_token: str) -> Page[Review]:
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
        return Page(reviews, next_token)

    async def mark_outdated(
        self, item: Resource, member_id: str, now: datetime, community: CommunityView
    ) -> int:
        """Record the member's mark once, counting it with an event; returns the number of marks."""
        try:
            await self._outdated.insert_one(
                {"_id": f"{item.id}:{member_id}", "item_id": item.id, "member_id": member_id, "time": now}
            )
        except DuplicateKeyError:  # marked already: counted when it was made
            doc = await self._resources.find_one({"_id": item.id}, {"outdated_count": 1})
            return as_int(doc.get("outdated_count")) if doc else 0

        def step(current: Values) -> Change:
            count = as_int(current[OUTDATED_COUNT]) + 1
            event = ItemMarkedOutdated(item.ref(), member_id, count, now)
            return Change(inc={OUTDATED_COUNT: 1}, events=to_envelopes([event], community))

        outcome = await self._counters.change(self._resources, item.id, [OUTDATED_COUNT], step)
        self._on_events(RESOURCES, item.id)
        return as_int(outcome.values[OUTDATED_COUNT]) if outcome else 0

    async def list_outdated(self, community_id: str, page_size: int, page_token: str) -> Page[Resource]:
        return await keyset_items(
            self._resources,
            {"community_id": community_id, "outdated_count": {"$gt": 0}},
            sort_field="outdated_count",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection=_NO_OUTBOX,
            convert=resource_from,
        )

    async def search_candidates(
        self, community_ids: list[str], query_terms: list[str], tag: str, limit: int
    ) -> list[IndexedResource]:
        """Resources of the communities having a term of the query: one lookup per term on
        ``(terms, community_id, create_time, _id)``, each the newest ``limit``; each resource once.

        The store is asked only what that index serves exactly (so a lookup reads ``limit`` documents in
        index order); the tag is checked here, among those."""

        async def lookup(term: str) -> list[Document]:
            cursor = (
                self._resources.find({"terms": term, "community_id": {"$in": community_ids}}, _NO_OUTBOX)
                .sort([("create_time", -1), ("_id", -1)])
                .limit(limit)
            )
            return [d async for d in cursor if not tag or tag in (d.get("tags") or [])]

        found: dict[str, IndexedResource] = {}
        for docs in await asyncio.gather(*(lookup(term) for term in query_terms)):
            for d in docs:
                if d["_id"] not in found:
                    found[d["_id"]] = IndexedResource(
                        resource_from(d), list(d.get("terms", [])), list(d.get("title_terms", []))
                    )
        return list(found.values())

"""Recognition read models, kept from events, and the contribution summaries issued from them.

- ``recognition_accepts``: one per answer: accepted or not, as of the latest acceptance change.
- ``recognition_ratings``: one per rated item: its average and count, as of the latest rating.
- ``recognition_role_changes``: one per role grant or revocation (its event id as ``_id``).
- ``recognition_collections``: one per published collection: its curator and when it was first published.
- ``recognition_summaries``: one per issued summary, with its ``recognition_summary_issued`` event.

Posts, question tags and badges come from the insight and badge collections.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.clock import utc_now
from guild_common.events.outbox import outbox_fields, outbox_indexes
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_reputation.adapters.badges_store import BADGE_AWARDS, award_from
from guild_reputation.adapters.insights_store import POSTS, QUESTIONS
from guild_reputation.adapters.outbound_events import recognition_summary_issued
from guild_reputation.adapters.roles_store import ROLES
from guild_reputation.domain.badges import Award
from guild_reputation.domain.recognition import ContributionSummary, RoleChange

ACCEPTS = "recognition_accepts"
RATINGS = "recognition_ratings"
ROLE_CHANGES = "recognition_role_changes"
SUMMARIES = "recognition_summaries"
COLLECTIONS = "recognition_collections"
OUTBOX_COLLECTIONS = [SUMMARIES]
# Most records one summary reads of each kind.
READ_MAX = 10_000
BADGES_MAX = 200

INDEXES = [
    IndexSpec(ACCEPTS, [("answer_author_id", 1), ("answered_at", 1)]),
    IndexSpec(ROLE_CHANGES, [("member_id", 1), ("at", 1)]),
    IndexSpec(COLLECTIONS, [("curator_id", 1), ("published_at", 1)]),
    *outbox_indexes(OUTBOX_COLLECTIONS),
]
SCHEMA = StoreSchema(indexes=INDEXES, outbox_collections=OUTBOX_COLLECTIONS)


async def _put_if_later(
    collection: AsyncCollection[Document], _id: str, at: datetime, fields: Document
) -> None:
    """Upsert ``fields`` unless the stored document is as of ``at`` or later: one conditional update,
    atomic whatever the writers (the upsert's insert fails on the ``_id`` when a later one is stored)."""
    try:
        await collection.update_one({"_id": _id, "as_of": {"$lt": at}}, {"$set": fields}, upsert=True)
    except DuplicateKeyError:
        pass  # as of a later (or the same) moment already


class MongoRecognition:
    def __init__(self, db: AsyncDatabase[Document], on_events: Callable[..., None]) -> None:
        self._accepts = db[ACCEPTS]
        self._ratings = db[RATINGS]
        self._role_changes = db[ROLE_CHANGES]
        self._summaries = db[SUMMARIES]
        self._collections = db[COLLECTIONS]
        self._posts = db[POSTS]
        self._questions = db[QUESTIONS]
        self._awards = db[BADGE_AWARDS]
        self._roles = db[ROLES]
        self._on_events = on_events

    # --- writes -------------------------------------------------------------------------------------

    async def acceptance(self, answer_id: str, answer_author_id: str, accepted: bool, at: datetime) -> None:
        """The answer's acceptance as of ``at``, unless a later change is stored."""
        await _put_if_later(
            self._accepts,
            answer_id,
            at,
            {"answer_author_id": answer_author_id, "accepted": accepted, "as_of": at},
        )

    async def rated(self, item_id: str, author_id: str, average: float, count: int, at: datetime) -> None:
        await _put_if_later(
            self._ratings,
            item_id,
            at,
            {"author_id": author_id, "average": average, "count": count, "as_of": at},
        )

    async def role_changed(self, event_id: str, member_id: str, change: RoleChange) -> None:
        try:
            await self._role_changes.insert_one(
                {
                    "_id": event_id,
                    "member_id": member_id,
                    "community_id": change.community_id,
                    "role": change.role,
                    "granted": change.granted,
                    "at": change.at,
                }
            )
        except DuplicateKeyError:
            pass

    async def collection_published(
        self, collection_id: str, community_id: str, curator_id: str, at: datetime
    ) -> None:
        """Stored once: a collection published again (republished after edits) still counts once."""
        try:
            await self._collections.insert_one(
                {
                    "_id": collection_id,
                    "community_id": community_id,
                    "curator_id": curator_id,
                    "published_at": at,
                }
            )
        except DuplicateKeyError:
            pass

    # --- reads --------------------------------------------------------------------------------------

    async def memberships(self, member_id: str) -> dict[str, str]:
        """The member's current communities and roles."""
        cursor = self._roles.find({"member_id": member_id}, {"community_id": 1, "role": 1}).limit(READ_MAX)
        return {doc["community_id"]: doc["role"] async for doc in cursor if doc["role"]}

    async def posts(self, member_id: str, start: datetime, end: datetime) -> list[Document]:
        cursor = (
            self._posts.find(
                {"author_id": member_id, "at": {"$gte": start, "$lt": end}},
                {"kind": 1, "community_id": 1, "question_id": 1},
            )
            .sort("at", 1)
            .limit(READ_MAX)
        )
        return [doc async for doc in cursor]

    async def collections_curated(
        self, member_id: str, start: datetime, end: datetime, *, exclude: frozenset[str] = frozenset()
    ) -> int:
        query: Document = {"curator_id": member_id, "published_at": {"$gte": start, "$lt": end}}
        if exclude:
            query["community_id"] = {"$nin": sorted(exclude)}
        return await self._collections.count_documents(query)

    async def curated_in(self, member_id: str, start: datetime, end: datetime) -> frozenset[str]:
        """The communities of the collections the member published in the span."""
        query = {"curator_id": member_id, "published_at": {"$gte": start, "$lt": end}}
        return frozenset(str(c) for c in await self._collections.distinct("community_id", query))

    async def accepted(self, answer_ids: list[str]) -> int:
        if not answer_ids:
            return 0
        return await self._accepts.count_documents({"_id": {"$in": answer_ids}, "accepted": True})

    async def ratings(self, item_ids: list[str]) -> tuple[float, int]:
        """Average stars over every rating of the items, and how many ratings."""
        if not item_ids:
            return 0.0, 0
        total = stars = 0.0
        async for doc in self._ratings.find({"_id": {"$in": item_ids}}, {"average": 1, "count": 1}):
            total += doc["count"]
            stars += doc["average"] * doc["count"]
        return (round(stars / total, 2) if total else 0.0), int(total)

    async def question_tags(self, question_ids: list[str]) -> list[list[str]]:
        if not question_ids:
            return []
        cursor = self._questions.find({"_id": {"$in": question_ids}}, {"tags": 1})
        return [list(doc.get("tags", [])) async for doc in cursor]

    async def badges(self, member_id: str, start: datetime, end: datetime) -> list[Award]:
        cursor = (
            self._awards.find(
                {"member_id": member_id, "award_time": {"$gte": start, "$lt": end}}, {"outbox": 0}
            )
            .sort("award_time", -1)
            .limit(BADGES_MAX)
        )
        return [award_from(doc) async for doc in cursor]

    async def role_changes(self, member_id: str, end: datetime) -> list[RoleChange]:
        cursor = (
            self._role_changes.find({"member_id": member_id, "at": {"$lt": end}})
            .sort("at", 1)
            .limit(READ_MAX)
        )
        return [
            RoleChange(doc["community_id"], doc["role"], bool(doc["granted"]), doc["at"])
            async for doc in cursor
        ]

    async def issue(
        self, summary_id: str, summary: ContributionSummary, requested_by: str, region: str, programme: str
    ) -> bool:
        """Store the summary with its ``recognition_summary_issued`` event; False when issued before."""
        now = utc_now()
        event = recognition_summary_issued(summary_id, summary, requested_by, region, programme, now)
        try:
            await self._summaries.insert_one(
                {
                    "_id": summary_id,
                    "member_id": summary.member_id,
                    "requested_by": requested_by,
                    "start": summary.start,
                    "end": summary.end,
                    "issue_time": now,
                    **outbox_fields([event]),
                }
            )
        except DuplicateKeyError:
            return False
        self._on_events(SUMMARIES, summary_id)  # the relay publishes it by _id
        return True

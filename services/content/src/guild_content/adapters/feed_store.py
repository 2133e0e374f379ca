"""Feed sources over posts and resources, and the tags members follow, in MongoDB.

A tag follow is one document (``<member>:<tag>``) carrying its ``tag_followed`` event; an unfollow is one
document per follow that ended (``<member>:<tag>:<follow time in ms>``) carrying ``tag_unfollowed``, so
following or unfollowing twice emits nothing more, and concurrent unfollows emit one event. How many tags
a member follows is a counter document (``tag_follow_counts``, ``_id`` the member): a follow first takes a
place with ``$inc`` guarded by ``{count: {$lt: limit}}``, and gives it back if it was a follow already.
A followed person is one document per pair, written only by a fact newer than the one it holds.

Every source is one keyset query on an index: ``(community_id, <sort>, _id)`` for a community's posts or
resources, ``(tags, create_time, _id)`` for followed tags, ``(author_id, create_time, _id)`` for followed
people.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.events.envelope import Envelope
from guild_common.events.outbox import OUTBOX, PENDING, OutboxWake, outbox_fields, outbox_indexes
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_common.pagination import Page
from guild_content.adapters.outbound_events import member_envelope
from guild_content.adapters.question_documents import question_from
from guild_content.adapters.question_store import QUESTIONS, VISIBLE
from guild_content.adapters.resource_store import RESOURCES, resource_from
from guild_content.app.ports import FeedEntry, FeedQuery, TagFollowResult
from guild_content.domain.feeds import TagFollowed, TagUnfollowed

TAG_FOLLOWS = "tag_follows"
TAG_UNFOLLOWS = "tag_unfollows"
PERSON_FOLLOWS = "person_follows"
TAG_FOLLOW_COUNTS = "tag_follow_counts"
OUTBOX_COLLECTIONS = [TAG_FOLLOWS, TAG_UNFOLLOWS]
SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(TAG_FOLLOWS, [("member_id", 1), ("tag", 1), ("_id", 1)]),
        *outbox_indexes(OUTBOX_COLLECTIONS),
        IndexSpec(PERSON_FOLLOWS, [("follower_id", 1), ("active", 1)]),
        IndexSpec(QUESTIONS, [("author_id", 1), ("create_time", -1), ("_id", -1)]),
    ],
    outbox_collections=OUTBOX_COLLECTIONS,
)
_FEED_FIELDS = {"outbox": 0, "terms": 0, "title_terms": 0}


class MongoFeedRepository:
    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake = lambda *_: None) -> None:
        self._posts = db[QUESTIONS]
        self._resources = db[RESOURCES]
        self._tag_follows = db[TAG_FOLLOWS]
        self._tag_unfollows = db[TAG_UNFOLLOWS]
        self._on_events = on_events
        self._person_follows = db[PERSON_FOLLOWS]
        self._tag_counts = db[TAG_FOLLOW_COUNTS]

    async def feed_page(
        self, query: FeedQuery, after: tuple[datetime | int, str] | None, limit: int
    ) -> list[FeedEntry]:
        filters: Document = {}
        if query.community_ids:
            filters["community_id"] = (
                query.community_ids[0]
                if len(query.community_ids) == 1
                else {"$in": list(query.community_ids)}
            )
        if query.author_ids:
            filters["author_id"] = {"$in": list(query.author_ids)}
        if query.tags:
            filters["tags"] = {"$in": list(query.tags)}
        if query.since is not None:
            filters["create_time"] = {"$gte": query.since}
        if query.source == "posts":
            filters |= VISIBLE
        if after is not None:
            value, after_id = after
            filters["$or"] = [{query.sort: {"$lt": value}}, {query.sort: value, "_id": {"$lt": after_id}}]
        collection = self._posts if query.source == "posts" else self._resources
        cursor = collection.find(filters, _FEED_FIELDS).sort([(query.sort, -1), ("_id", -1)]).limit(limit)
        entries = []
        async for doc in cursor:
            activity = doc.get("activity_time") or doc["create_time"]
            key = doc[query.sort] if query.sort != "score" else int(doc.get("score", 0))
            if query.source == "posts":
                entries.append(
                    FeedEntry(question_from(doc), None, key, doc["_id"], doc["community_id"], activity)
                )
            else:
                entries.append(
                    FeedEntry(None, resource_from(doc), key, doc["_id"], doc["community_id"], activity)
                )
        return entries

    async def backfill_activity_times(self) -> int:
        """Give posts and resources stored before feeds existed an activity time (their creation).

        Run at start-up; a no-op once every document has one. Returns the number of documents changed.
        """
        changed = 0
        for collection in (self._posts, self._resources):
            missing = collection.find({"activity_time": {"$exists": False}}, {"create_time": 1})
            async for doc in missing:
                result = await collection.update_one(
                    {"_id": doc["_id"], "activity_time": {"$exists": False}},
                    {"$set": {"activity_time": doc["create_time"]}},
                )
                changed += result.modified_count
        return changed

    async def follow_tag(self, member_id: str, tag: str, now: datetime, *, limit: int) -> TagFollowResult:
        """Record the follow with ``tag_followed``, unless the member follows it already (no event) or
        follows ``limit`` tags: the place is taken first, atomically, so concurrent follows cannot pass it."""
        if not await self._take_place(member_id, limit):
            return "already" if await self.follows_tag(member_id, tag) else "full"
        event = member_envelope(TagFollowed(member_id, tag, now))
        try:
            await self._tag_follows.insert_one(
                {
                    "_id": f"{member_id}:{tag}",
                    "member_id": member_id,
                    "tag": tag,
                    "follow_time": now,
                    **outbox_fields([event]),
                }
            )
        except BaseException as error:
            await self._tag_counts.update_one({"_id": member_id}, {"$inc": {"count": -1}})
            if isinstance(error, DuplicateKeyError):
                return "already"
            raise
        self._on_events(TAG_FOLLOWS, f"{member_id}:{tag}")
        return "followed"

    async def _take_place(self, member_id: str, limit: int) -> bool:
        """Count one more followed tag if the member follows fewer than ``limit``; one atomic write."""
        if await self._tag_counts.find_one({"_id": member_id}, {"_id": 1}) is None:
            # First follow since follows were counted: start from the follows there are (once per member).
            there = await self._tag_follows.count_documents({"member_id": member_id})
            try:
                await self._tag_counts.insert_one({"_id": member_id, "count": there})
            except DuplicateKeyError:
                pass
        try:
            result = await self._tag_counts.update_one(
                {"_id": member_id, "count": {"$lt": limit}}, {"$inc": {"count": 1}}, upsert=True
            )
        except DuplicateKeyError:  # the count exists and is at the limit
            return False
        return result.modified_count == 1 or result.upserted_id is not None

    async def unfollow_tag(self, member_id: str, tag: str, now: datetime) -> bool:
        """End the follow with ``tag_unfollowed``; False (and no event) if the member did not follow it.

        The ending is written before the follow is removed, with any of the follow's events not yet
        published, so a crash in between leaves a follow whose next unfollow writes the same ending again
        (one event), and a follow removed before the relay reached it still announces itself first.
        """
        key = f"{member_id}:{tag}"
        doc = await self._tag_follows.find_one({"_id": key})
        if doc is None:
            return False
        pending = [Envelope.from_document(e) for e in doc.get(OUTBOX, [])] if doc.get(PENDING) else []
        ended = member_envelope(TagUnfollowed(member_id, tag, now))
        follow_ms = int(_aware(doc["follow_time"]).timestamp() * 1000)
        ended_id = f"{key}:{follow_ms}"
        try:
            await self._tag_unfollows.insert_one(
                {
                    "_id": ended_id,
                    "member_id": member_id,
                    "tag": tag,
                    "end_time": now,
                    **outbox_fields([*pending, ended]),
                }
            )
        except DuplicateKeyError:
            pass
        # Only the follow whose ending was just written: a new follow of the same tag made meanwhile stays.
        result = await self._tag_follows.delete_one({"_id": key, "follow_time": doc["follow_time"]})
        self._on_events(TAG_UNFOLLOWS, ended_id)
        if result.deleted_count != 1:
            return False
        await self._tag_counts.update_one({"_id": member_id}, {"$inc": {"count": -1}})
        return True

    async def followed_tags(self, member_id: str, page_size: int, page_token: str) -> Page[str]:
        docs, next_token = await keyset_page(
            self._tag_follows,
            {"member_id": member_id},
            sort_field="tag",
            descending=False,
            page_size=page_size,
            page_token=page_token,
            projection={"tag": 1},
        )
        return Page([d["tag"] for d in docs], next_token)

    async def follows_tag(self, member_id: str, tag: str) -> bool:
        return await self._tag_follows.find_one({"_id": f"{member_id}:{tag}"}, {"_id": 1}) is not None

    async def followees(self, member_id: str, limit: int) -> list[str]:
        cursor = self._person_follows.find({"follower_id": member_id, "active": True}, {"followee_id": 1})
        return [str(d["followee_id"]) async for d in cursor.limit(limit)]

    async def set_person_follow(
        self, follower_id: str, followee_id: str, active: bool, as_of: datetime
    ) -> None:
        """Keep the latest of follow and unfollow by their time; replays and late copies change nothing."""
        key = f"{follower_id}:{followee_id}"
        fields = {"follower_id": follower_id, "followee_id": followee_id, "active": active, "as_of": as_of}
        older = {"_id": key, "$or": [{"as_of": {"$lt": as_of}}, {"as_of": {"$exists": False}}]}
        for _ in range(2):
            try:
                await self._person_follows.update_one(older, {"$set": fields}, upsert=True)
                return
            except DuplicateKeyError:
                # The pair exists with a fact as new as this one (a replay or a late copy), or was created
                # in between by another fact: the second attempt tells them apart.
                continue


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)

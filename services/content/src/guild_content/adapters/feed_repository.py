"""Feed sources over posts and resources, and the tags members follow, in MongoDB.

A tag follow is one document (``<member>:<tag>``) carrying its ``tag_followed`` event; an unfollow is one
document per follow that ended (``<member>:<tag>:<follow time in ms>``) carrying ``tag_unfollowed``, so
following or unfollowing twice emits nothing more, and concurrent unfollows emit one event.

Every source is one keyset query on an index: ``(community_id, <sort>, _id)`` for a community's posts or
resources, ``(tags, create_time, _id)`` for followed tags, ``(author_id, create_time, _id)`` for followed
people.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.doclocks import document_lock
from guild_common.events.envelope import Envelope
from guild_common.events.outbox import OUTBOX, PENDING, OutboxWake, outbox_fields, outbox_indexes
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec
from guild_content.adapters.events import member_envelope
from guild_content.adapters.mongo_repository import QUESTIONS, VISIBLE, _question
from guild_content.adapters.resource_repository import RESOURCES, _resource
from guild_content.app.ports import FeedEntry, FeedQuery, FollowedTagPage
from guild_content.domain.model import TagFollowed, TagUnfollowed

TAG_FOLLOWS = "tag_follows"
TAG_UNFOLLOWS = "tag_unfollows"
PERSON_FOLLOWS = "person_follows"
OUTBOX_COLLECTIONS = [TAG_FOLLOWS, TAG_UNFOLLOWS]
INDEXES = [
    IndexSpec(TAG_FOLLOWS, [("member_id", 1), ("tag", 1), ("_id", 1)]),
    *outbox_indexes(OUTBOX_COLLECTIONS),
    IndexSpec(PERSON_FOLLOWS, [("follower_id", 1), ("active", 1)]),
    IndexSpec(QUESTIONS, [("author_id", 1), ("create_time", -1), ("_id", -1)]),
]
_FEED_FIELDS = {"outbox": 0, "terms": 0, "title_terms": 0}


class MongoFeedRepository:
    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake = lambda *_: None) -> None:
        self._posts = db[QUESTIONS]
        self._resources = db[RESOURCES]
        self._tag_follows = db[TAG_FOLLOWS]
        self._tag_unfollows = db[TAG_UNFOLLOWS]
        self._on_events = on_events
        self._person_follows = db[PERSON_FOLLOWS]

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
                    FeedEntry(_question(doc), None, key, doc["_id"], doc["community_id"], activity)
                )
            else:
                entries.append(
                    FeedEntry(None, _resource(doc), key, doc["_id"], doc["community_id"], activity)
                )
        return entries

    async def backfill_activity_times(self) -> int:
        """Give posts and resources stored before feeds existed an activity time (their creation).

        Run at start-up; a no-op once every document has one. Returns the number of documents changed.
        """
        changed = 0
        for name, collection in ((QUESTIONS, self._posts), (RESOURCES, self._resources)):
            missing = collection.find({"activity_time": {"$exists": False}}, {"create_time": 1})
            async for doc in missing:
                async with document_lock(name, doc["_id"]):
                    result = await collection.update_one(
                        {"_id": doc["_id"], "activity_time": {"$exists": False}},
                        {"$set": {"activity_time": doc["create_time"]}},
                    )
                changed += result.modified_count
        return changed

    async def follow_tag(self, member_id: str, tag: str, now: datetime) -> bool:
        """Record the follow with ``tag_followed``; False (and no event) if the member follows it already."""
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
        except DuplicateKeyError:
            return False
        self._on_events(TAG_FOLLOWS, f"{member_id}:{tag}")
        return True

    async def unfollow_tag(self, member_id: str, tag: str, now: datetime) -> bool:
        """End the follow with ``tag_unfollowed``; False (and no event) if the member did not follow it.

        The ending is written before the follow is removed, with any of the follow's events not yet
        published, so a crash in between leaves a follow whose next unfollow writes the same ending again
        (one event), and a follow removed before the relay reached it still announces itself first.
        """
        key = f"{member_id}:{tag}"
        async with document_lock(TAG_FOLLOWS, key):
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
            result = await self._tag_follows.delete_one({"_id": key})
        self._on_events(TAG_UNFOLLOWS, ended_id)
        return result.deleted_count == 1

    async def followed_tags(self, member_id: str, page_size: int, page_token: str) -> FollowedTagPage:
        docs, next_token = await keyset_page(
            self._tag_follows,
            {"member_id": member_id},
            sort_field="tag",
            descending=False,
            page_size=page_size,
            page_token=page_token,
            projection={"tag": 1},
        )
        return FollowedTagPage([d["tag"] for d in docs], next_token)

    async def follows_tag(self, member_id: str, tag: str) -> bool:
        return await self._tag_follows.find_one({"_id": f"{member_id}:{tag}"}, {"_id": 1}) is not None

    async def count_followed_tags(self, member_id: str) -> int:
        return await self._tag_follows.count_documents({"member_id": member_id})

    async def followees(self, member_id: str, limit: int) -> list[str]:
        cursor = self._person_follows.find({"follower_id": member_id, "active": True}, {"followee_id": 1})
        return [str(d["followee_id"]) async for d in cursor.limit(limit)]

    async def set_person_follow(
        self, follower_id: str, followee_id: str, active: bool, as_of: datetime
    ) -> None:
        """Keep the latest of follow and unfollow by their time; replays and late copies change nothing."""
        key = f"{follower_id}:{followee_id}"
        async with document_lock(PERSON_FOLLOWS, key):
            doc = await self._person_follows.find_one({"_id": key}, {"as_of": 1})
            if doc is not None and _aware(doc["as_of"]) >= as_of:
                return
            await self._person_follows.update_one(
                {"_id": key},
                {
                    "$set": {
                        "follower_id": follower_id,
                        "followee_id": followee_id,
                        "active": active,
                        "as_of": as_of,
                    }
                },
                upsert=True,
            )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)

"""Flags, the moderation queue and the moderation log in MongoDB.

A flag is its own document (``<post>:<member>``), so a member flags a post once. The post's flag count is
recounted from the flags under the post's lock, like a vote score, and crossing the threshold hides the
post once (``auto_hidden``); a moderator's restore is not undone by later flags, which queue it again.
"""

from __future__ import annotations

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.doclocks import document_lock
from guild_common.events.outbox import OutboxWake, merge_updates, outbox_update
from guild_common.ids import new_id
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec
from guild_content.adapters.events import to_envelopes
from guild_content.adapters.mongo_repository import ANSWERS, COLLECTION_OF, COMMENTS, QUESTIONS
from guild_content.app.ports import LogPage, QueueItem, QueuePage
from guild_content.domain.model import (
    CommunityView,
    DomainEvent,
    Flag,
    ModerationEntry,
    PostFlagged,
    PostHidden,
    PostRef,
)

FLAGS = "flags"
MODERATION_QUEUE = "moderation_queue"
MODERATION_LOG = "moderation_log"
INDEXES = [
    IndexSpec(FLAGS, [("post_id", 1), ("reason", 1)]),
    IndexSpec(MODERATION_QUEUE, [("community_id", 1), ("state", 1), ("queue_time", 1), ("_id", 1)]),
    IndexSpec(MODERATION_LOG, [("community_id", 1), ("time", -1), ("_id", -1)]),
]
EXCERPT_MAX = 200


def _queue_item(doc: Document) -> QueueItem:
    return QueueItem(
        post=PostRef(doc["kind"], doc["_id"], doc["question_id"], doc["community_id"], doc["author_id"]),
        excerpt=doc.get("excerpt", ""),
        flag_count=doc.get("flag_count", 0),
        reasons=list(doc.get("reasons", [])),
        hidden=doc.get("hidden", False),
        queue_time=doc["queue_time"],
    )


def _entry(doc: Document) -> ModerationEntry:
    return ModerationEntry(
        id=doc["_id"],
        post=PostRef(doc["kind"], doc["post_id"], doc["question_id"], doc["community_id"], doc["author_id"]),
        action=doc["action"],
        actor_id=doc.get("actor_id", ""),
        reason=doc.get("reason", ""),
        time=doc["time"],
    )


class MongoModerationRepository:
    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake) -> None:
        self._posts: dict[str, AsyncCollection[Document]] = {
            name: db[name] for name in (QUESTIONS, ANSWERS, COMMENTS)
        }
        self._flags = db[FLAGS]
        self._queue = db[MODERATION_QUEUE]
        self._log = db[MODERATION_LOG]
        self._on_events = on_events

    async def add_flag(self, flag: Flag) -> bool:
        """Store the flag; False if the member flagged this post before."""
        try:
            await self._flags.insert_one(
                {
                    "_id": f"{flag.post.id}:{flag.member_id}",
                    "post_id": flag.post.id,
                    "community_id": flag.post.community_id,
                    "member_id": flag.member_id,
                    "reason": flag.reason,
                    "note": flag.note,
                    "time": flag.time,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def count_flags(self, flag: Flag, threshold: int, community: CommunityView) -> tuple[int, bool]:
        """Recount the post's flags, hide it when they first reach ``threshold``, queue it for review.

        Returns (flag count, hidden).
        """
        ref = flag.post
        posts = self._posts[COLLECTION_OF[ref.kind]]
        async with document_lock(COLLECTION_OF[ref.kind], ref.id):
            count = await self._flags.count_documents({"post_id": ref.id})
            doc = await posts.find_one({"_id": ref.id}, {"outbox": 0}) or {}
            events: list[DomainEvent] = [PostFlagged(ref, flag.reason, count, flag.time)]
            fields: Document = {"flag_count": count}
            auto_hide = count >= threshold and not doc.get("auto_hidden", False)
            if auto_hide:
                fields |= {"hidden": True, "auto_hidden": True}
                if not doc.get("hidden", False):
                    reason = f"flagged by {count} members"
                    events.append(PostHidden(ref, "", reason, True, count, flag.time))
            await posts.update_one(
                {"_id": ref.id},
                merge_updates({"$set": fields}, outbox_update(to_envelopes(events, community))),
            )
            hidden = bool(doc.get("hidden", False)) or auto_hide
            reasons = sorted(await self._flags.distinct("reason", {"post_id": ref.id}))
            queued = await self._queue.find_one({"_id": ref.id}, {"state": 1, "queue_time": 1})
            pending = queued is not None and queued.get("state") == "pending"
            await self._queue.update_one(
                {"_id": ref.id},
                {
                    "$set": {
                        "kind": ref.kind,
                        "question_id": ref.question_id,
                        "community_id": ref.community_id,
                        "author_id": ref.author_id,
                        "excerpt": (doc.get("title") or doc.get("body", ""))[:EXCERPT_MAX],
                        "flag_count": count,
                        "reasons": reasons,
                        "hidden": hidden,
                        "state": "pending",
                        "queue_time": queued["queue_time"] if queued and pending else flag.time,
                    }
                },
                upsert=True,
            )
            if auto_hide:
                await self.log(
                    ModerationEntry(new_id(), ref, "auto_hide", "", f"flagged by {count} members", flag.time)
                )
        self._on_events(COLLECTION_OF[ref.kind], ref.id)
        return count, hidden

    async def set_state(
        self, ref: PostRef, fields: Document, event: DomainEvent, community: CommunityView
    ) -> Document:
        """Set moderation fields (hidden, locked) on a post with the event for its author; the post after."""
        name = COLLECTION_OF[ref.kind]
        async with document_lock(name, ref.id):
            await self._posts[name].update_one(
                {"_id": ref.id},
                merge_updates({"$set": fields}, outbox_update(to_envelopes([event], community))),
            )
            doc = await self._posts[name].find_one({"_id": ref.id}, {"hidden": 1, "locked": 1, "deleted": 1})
        self._on_events(name, ref.id)
        return doc or {}

    async def resolve(self, entry: ModerationEntry, hidden: bool) -> None:
        """Log a moderator's action and take the post off the queue."""
        await self.log(entry)
        async with document_lock(COLLECTION_OF[entry.post.kind], entry.post.id):
            await self._queue.update_one(
                {"_id": entry.post.id}, {"$set": {"state": "resolved", "hidden": hidden}}
            )

    async def log(self, entry: ModerationEntry) -> None:
        await self._log.insert_one(
            {
                "_id": entry.id,
                "post_id": entry.post.id,
                "kind": entry.post.kind,
                "question_id": entry.post.question_id,
                "community_id": entry.post.community_id,
                "author_id": entry.post.author_id,
                "action": entry.action,
                "actor_id": entry.actor_id,
                "reason": entry.reason,
                "time": entry.time,
            }
        )

    async def queue(self, community_id: str, page_size: int, page_token: str) -> QueuePage:
        docs, next_token = await keyset_page(
            self._queue,
            {"community_id": community_id, "state": "pending"},
            sort_field="queue_time",
            descending=False,
            page_size=page_size,
            page_token=page_token,
        )
        return QueuePage([_queue_item(d) for d in docs], next_token)

    async def moderation_log(self, community_id: str, page_size: int, page_token: str) -> LogPage:
        docs, next_token = await keyset_page(
            self._log,
            {"community_id": community_id},
            sort_field="time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
        )
        return LogPage([_entry(d) for d in docs], next_token)

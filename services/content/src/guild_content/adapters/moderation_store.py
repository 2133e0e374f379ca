"""Flags, the moderation queue and the moderation log in MongoDB.

A flag is its own document (``<post>:<member>``), so a member flags a post once, and each new flag counts
once into the post's ``flag_count``: one write guarded by the count (and hidden state) it read, carrying
``post_flagged`` and, when the count first reaches the threshold, ``post_hidden`` with ``auto_hidden`` set.
A moderator's restore is not undone by later flags, which queue the post again. The queue entry gathers
reasons with ``$addToSet`` and keeps the highest count and first queue time of its pending spell.
"""

from __future__ import annotations

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.events.outbox import OutboxWake, merge_updates, outbox_update
from guild_common.ids import new_id
from guild_common.keyset import keyset_items
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_common.pagination import Page
from guild_content.adapters.counter_writes import Change, CounterWriter, Values, as_int
from guild_content.adapters.outbound_events import to_envelopes
from guild_content.adapters.question_store import ANSWERS, COLLECTION_OF, COMMENTS, QUESTIONS
from guild_content.adapters.search_store import SEARCH_PENDING, SEARCH_SEQ, SearchIndex, search_mark
from guild_content.app.ports import QueueItem
from guild_content.domain.community import CommunityView
from guild_content.domain.events import DomainEvent
from guild_content.domain.moderation import Flag, ModerationEntry, PostFlagged, PostHidden
from guild_content.domain.posts import PostRef

FLAGS = "flags"
MODERATION_QUEUE = "moderation_queue"
MODERATION_LOG = "moderation_log"
SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(FLAGS, [("post_id", 1), ("reason", 1)]),
        IndexSpec(MODERATION_QUEUE, [("community_id", 1), ("state", 1), ("queue_time", 1), ("_id", 1)]),
        IndexSpec(MODERATION_LOG, [("community_id", 1), ("time", -1), ("_id", -1)]),
    ]
)
EXCERPT_MAX = 200
QUEUE_ATTEMPTS = 8
FLAG_COUNT = "flag_count"
HIDDEN = "hidden"
AUTO_HIDDEN = "auto_hidden"


def _queue_item(doc: Document) -> QueueItem:
    return QueueItem(
        post=PostRef(doc["kind"], doc["_id"], doc["question_id"], doc["community_id"], doc["author_id"]),
        excerpt=doc.get("excerpt", ""),
        flag_count=doc.get("flag_count", 0),
        reasons=sorted(doc.get("reasons", [])),
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
        self._counters = CounterWriter()
        self._search = SearchIndex(db)

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
        """Count a new flag into the post, hide it when flags first reach ``threshold``, queue it for review.

        Returns (flag count, hidden).
        """
        ref = flag.post
        name = COLLECTION_OF[ref.kind]
        seen: Values = {}

        def step(current: Values) -> Change:
            seen.clear()  # what the build that is written saw: whether this flag is the one that hid the post
            seen.update(current)
            count = as_int(current[FLAG_COUNT]) + 1
            events: list[DomainEvent] = [PostFlagged(ref, flag.reason, count, flag.time)]
            change = Change(inc={FLAG_COUNT: 1})
            if count >= threshold and not current[AUTO_HIDDEN]:
                change.set = {HIDDEN: True, AUTO_HIDDEN: True}
                if name == QUESTIONS:  # hidden from search too
                    change.inc[SEARCH_SEQ] = 1
                    change.set[SEARCH_PENDING] = True
                if not current[HIDDEN]:
                    events.append(PostHidden(ref, "", f"flagged by {count} members", True, count, flag.time))
            change.events = to_envelopes(events, community)
            return change

        outcome = await self._counters.change(
            self._posts[name], ref.id, [FLAG_COUNT, HIDDEN, AUTO_HIDDEN], step
        )
        if outcome is None:
            return 0, False
        self._on_events(name, ref.id)
        count, hidden = as_int(outcome.values[FLAG_COUNT]), bool(outcome.values[HIDDEN])
        post = outcome.document
        if name == QUESTIONS and post.get(SEARCH_PENDING):
            await self._search.sync(post)
        excerpt = (post.get("title") or post.get("body", ""))[:EXCERPT_MAX]
        await self._queue_flagged(ref, count, flag, hidden, excerpt)
        if outcome.values[AUTO_HIDDEN] and not seen.get(AUTO_HIDDEN):
            reason = f"flagged by {count} members"
            await self.log(ModerationEntry(new_id(), ref, "auto_hide", "", reason, flag.time))
        return count, hidden

    async def _queue_flagged(self, ref: PostRef, count: int, flag: Flag, hidden: bool, excerpt: str) -> None:
        """Put the post on the moderation queue, or update its pending entry; each step one atomic write."""
        about = {
            "kind": ref.kind,
            "question_id": ref.question_id,
            "community_id": ref.community_id,
            "author_id": ref.author_id,
            "excerpt": excerpt,
        }
        for _ in range(QUEUE_ATTEMPTS):
            pending = await self._queue.update_one(
                {"_id": ref.id, "state": "pending"},
                {
                    "$set": about,
                    "$max": {"flag_count": count, "hidden": hidden},
                    "$addToSet": {"reasons": flag.reason},
                },
            )
            if pending.matched_count:
                return
            try:  # not pending (new, or resolved): a new pending spell starts now
                await self._queue.update_one(
                    {"_id": ref.id, "state": {"$ne": "pending"}},
                    {
                        "$set": {**about, "state": "pending", "queue_time": flag.time, "hidden": hidden},
                        "$max": {"flag_count": count},
                        "$addToSet": {"reasons": flag.reason},
                    },
                    upsert=True,
                )
                return
            except DuplicateKeyError:
                continue  # another flag queued it meanwhile: join its pending spell

    async def set_state(
        self, ref: PostRef, fields: Document, event: DomainEvent, community: CommunityView
    ) -> Document:
        """Set moderation fields (hidden, locked) on a post with the event for its author; the post after."""
        name = COLLECTION_OF[ref.kind]
        searched = name == QUESTIONS and HIDDEN in fields
        doc = await self._posts[name].find_one_and_update(
            {"_id": ref.id},
            merge_updates(
                {"$set": fields},
                outbox_update(to_envelopes([event], community)),
                search_mark() if searched else {},
            ),
            return_document=ReturnDocument.AFTER,
        )
        self._on_events(name, ref.id)
        if searched and doc is not None:
            await self._search.sync(doc)
        return doc or {}

    async def resolve(self, entry: ModerationEntry, hidden: bool) -> None:
        """Log a moderator's action and take the post off the queue."""
        await self.log(entry)
        resolved = {"state": "resolved", "hidden": hidden}
        await self._queue.update_one({"_id": entry.post.id}, {"$set": resolved})

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

    async def queue(self, community_id: str, page_size: int, page_token: str) -> Page[QueueItem]:
        return await keyset_items(
            self._queue,
            {"community_id": community_id, "state": "pending"},
            sort_field="queue_time",
            descending=False,
            page_size=page_size,
            page_token=page_token,
            convert=_queue_item,
        )

    async def moderation_log(
        self, community_id: str, page_size: int, page_token: str
    ) -> Page[ModerationEntry]:
        return await keyset_items(
            self._log,
            {"community_id": community_id},
            sort_field="time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            convert=_entry,
        )

"""The compact search documents of posts, and the epochs that tell stored similar-question hints are stale.

Search ranks candidates by their terms, title terms and time; reading whole posts for that costs the
store a full document decode each. So every post of the questions collection has a search document in
``post_search`` (same ``_id``): community, kind, time, tags, answered or not, and its terms and title
terms, which are empty while the post is deleted or hidden, so such a post never takes a candidate's
place; a question's meaning vector and bucket keys likewise (``adapters.meaning_store``). Candidates
are read from the ``(terms, community_id, create_time, _id)`` and ``(title, ...)`` indexes of this
collection (see ``app.search``); only the page's posts are read whole, in one ``$in`` read.

Keeping it right without transactions (the outbox pattern, applied to a derived document):
- every write that changes what the search document holds (insert, edit, delete, hide or restore, the
  answer count) also does ``$inc: {search_seq: 1}`` and sets ``search_pending`` on the post, in that
  same atomic write;
- the writer then writes the search document from the post as stored, guarded by the sequence
  (``{_id, seq: {$lt: search_seq}}``, an upsert: an older state never overwrites a newer one, and the
  same state written twice is a no-op), then clears ``search_pending`` guarded by ``search_seq``, so a
  write that came in between keeps its own mark;
- :class:`SearchIndexer` re-writes the search documents of posts still marked (a process that stopped
  between the two writes) and of posts stored before search documents existed, in the background.

Similar-question hints (the unanswered queue) are stored on each question with the community's hint
epoch they were computed at; the epoch (``hint_epochs``, one document per community) moves whenever a
question starts or stops being a possible hint (first answer, last answer removed) or a possible hint
changes (an answered question edited, deleted, hidden or restored), and ``hint_changes`` logs which post
each epoch was for. The epoch is moved after the search document is written, so hints computed from an
epoch read before the candidates see every change up to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_common.sweeper import SweepingWorker
from guild_content.adapters import meaning_store
from guild_content.app.ports import SearchEntry
from guild_content.domain.posts import TOPIC_KINDS

log = structlog.get_logger("guild.content.search")

QUESTIONS = "questions"
POST_SEARCH = "post_search"
HINT_EPOCHS = "hint_epochs"
HINT_CHANGES = "hint_changes"
SEARCH_SEQ = "search_seq"
SEARCH_PENDING = "search_pending"
SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(POST_SEARCH, [("terms", 1), ("community_id", 1), ("create_time", -1), ("_id", -1)]),
        IndexSpec(POST_SEARCH, [("title", 1), ("community_id", 1), ("create_time", -1), ("_id", -1)]),
        IndexSpec(POST_SEARCH, meaning_store.INDEX),
        IndexSpec(QUESTIONS, [(SEARCH_PENDING, 1)]),
        IndexSpec(HINT_CHANGES, [("community_id", 1), ("epoch", 1)]),
    ]
)
# Entries of the hint change log kept per community (older ones are dropped as new ones come).
HINT_CHANGES_KEPT = 1000
# Posts re-indexed per pass of the indexer, and written per bulk write of a backfill.
SWEEP_BATCH = 200
BACKFILL_BATCH = 500
DUPLICATE_KEY = 11000
# What a search document is not built from.
_UNUSED = {"outbox": 0, "body": 0}


def search_mark() -> Document:
    """The update parts every write changing a post's searchable state carries (merge into it)."""
    return {"$inc": {SEARCH_SEQ: 1}, "$set": {SEARCH_PENDING: True}}


def is_question(doc: Document) -> bool:
    return doc.get("kind", "question") not in TOPIC_KINDS


def _visible(doc: Document) -> bool:
    return doc.get("deleted") is not True and doc.get("hidden") is not True


def search_document(doc: Document) -> Document:
    """The search document of a stored post (without ``_id``): ``terms`` every term, ``title`` the
    title's (indexed too: a one-word query's best candidates), both empty while the post is not visible."""
    visible = _visible(doc)
    count = doc.get("answer_count")
    return {
        "seq": int(doc.get(SEARCH_SEQ, 0)),
        "community_id": doc["community_id"],
        "kind": doc.get("kind", "question"),
        "create_time": doc["create_time"],
        "tags": list(doc.get("tags", [])),
        "answered": isinstance(count, int) and count > 0,
        "visible": visible,
        "title": list(doc.get("title_terms", [])) if visible else [],
        "terms": list(doc.get("terms", [])) if visible else [],
        **meaning_store.search_fields(doc, visible),
    }


def _entry(doc: Document) -> SearchEntry:
    return SearchEntry(
        id=doc["_id"],
        community_id=doc["community_id"],
        kind=doc.get("kind", "question"),
        create_time=doc["create_time"],
        tags=list(doc.get("tags", [])),
        answered=bool(doc.get("answered")),
        terms=list(doc.get("terms", [])),
        title_terms=list(doc.get("title", [])),
    )


class SearchIndex:
    """Writes and reads the search documents and hint epochs of one database."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._posts = db[QUESTIONS]
        self._search = db[POST_SEARCH]
        self._epochs = db[HINT_EPOCHS]
        self._changes = db[HINT_CHANGES]

    async def sync(self, doc: Document, *, hints_changed: bool | None = None) -> None:
        """Bring the post's search document to ``doc`` (the post as stored after a marked write).

        ``hints_changed``: whether the write changed what the post is as a similar-question hint; by
        default, a question with answers (edited, deleted, hidden or restored) did.
        """
        post_id, seq = doc["_id"], int(doc.get(SEARCH_SEQ, 0))
        try:
            await self._search.update_one(
                {"_id": post_id, "seq": {"$lt": seq}}, {"$set": search_document(doc)}, upsert=True
            )
        except DuplicateKeyError:
            pass  # this state or a newer one is written already
        if hints_changed is None:
            hints_changed = is_question(doc) and int(doc.get("answer_count") or 0) > 0
        if hints_changed:
            await self.hint_changed(doc["community_id"], post_id)
        if doc.get(SEARCH_PENDING):
            await self._posts.update_one(
                {"_id": post_id, SEARCH_SEQ: seq, SEARCH_PENDING: True}, {"$unset": {SEARCH_PENDING: ""}}
            )

    async def sync_id(self, post_id: str, *, hints_changed: bool | None = None) -> None:
        """:meth:`sync` from the post as stored now."""
        doc = await self._posts.find_one({"_id": post_id}, _UNUSED)
        if doc is not None:
            await self.sync(doc, hints_changed=hints_changed)

    async def resync(self, post_id: str) -> None:
        """:meth:`sync` of a post found still marked: what its write changed is unknown, so a question
        moves the hint epoch."""
        doc = await self._posts.find_one({"_id": post_id}, _UNUSED)
        if doc is not None:
            await self.sync(doc, hints_changed=is_question(doc))

    async def hint_changed(self, community_id: str, post_id: str) -> None:
        """Move the community's hint epoch for a change of ``post_id`` and log which post it was.

        The log entry is written after the epoch moved: a reader that finds an epoch without its entry
        (the writer stopped in between) computes the hints it would have updated from scratch."""
        moved = await self._epochs.find_one_and_update(
            {"_id": community_id}, {"$inc": {"epoch": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        epoch = int(moved["epoch"]) if moved else 0
        await self._changes.update_one(
            {"_id": f"{community_id}:{epoch}"},
            {"$set": {"community_id": community_id, "epoch": epoch, "post_id": post_id}},
            upsert=True,
        )
        if epoch % 100 == 0:
            await self._changes.delete_many(
                {"community_id": community_id, "epoch": {"$lte": epoch - HINT_CHANGES_KEPT}}
            )

    async def hint_changes(self, community_id: str, after: int, upto: int) -> dict[int, str]:
        """The logged changes with epochs in ``(after, upto]``: the post each changed, by epoch."""
        if upto <= after:
            return {}
        cursor = (
            self._changes.find({"community_id": community_id, "epoch": {"$gt": after, "$lte": upto}})
            .sort([("epoch", 1)])
            .limit(upto - after)
        )
        return {int(d["epoch"]): str(d["post_id"]) async for d in cursor}

    async def epoch(self, community_id: str) -> int:
        doc = await self._epochs.find_one({"_id": community_id})
        return int(doc["epoch"]) if doc else 0

    async def term_entries(
        self, community_ids: list[str], term: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[SearchEntry]:
        """The newest ``limit`` visible posts having ``term`` in the communities (after ``after``, a
        ``(create_time, _id)`` position), newest first.

        Served whole by the ``(terms, community_id, create_time, _id)`` index, a continuation as a
        keyset range: the store reads ``limit`` compact documents."""
        query: Document = {"terms": term, "community_id": {"$in": community_ids}}
        if after is not None:
            time, post_id = after
            query["$or"] = [{"create_time": {"$lt": time}}, {"create_time": time, "_id": {"$lt": post_id}}]
        cursor = self._search.find(query).sort([("create_time", -1), ("_id", -1)]).limit(limit)
        return [_entry(d) async for d in cursor]

    async def title_entries(self, community_ids: list[str], term: str, limit: int) -> list[SearchEntry]:
        """The newest ``limit`` visible posts having ``term`` in their title, newest first; served whole by
        the ``(title, community_id, create_time, _id)`` index."""
        cursor = (
            self._search.find({"title": term, "community_id": {"$in": community_ids}})
            .sort([("create_time", -1), ("_id", -1)])
            .limit(limit)
        )
        return [_entry(d) async for d in cursor]

    async def count_since(self, community_ids: list[str], term: str, since: datetime) -> int:
        """How many visible posts having ``term`` were created at ``since`` or later (the index counts)."""
        return await self._search.count_documents(
            {"terms": term, "community_id": {"$in": community_ids}, "create_time": {"$gte": since}}
        )

    async def pending(self, limit: int) -> list[str]:
        """Posts whose last marked write has not reached their search document (yet)."""
        cursor = self._posts.find({SEARCH_PENDING: True}, {"_id": 1}).limit(limit)
        return [d["_id"] async for d in cursor]

    async def missing(self) -> bool:
        """Whether some posts may have no search document (fewer search documents than posts), from the
        collections' counts rather than a count of every document."""
        posts = await self._posts.estimated_document_count()
        return posts > await self._search.estimated_document_count()

    async def backfill(self) -> int:
        """Write the search documents of posts that have none, from one pass over the posts; returns how
        many were written. Idempotent: each write is guarded by the post's sequence, as :meth:`sync`."""
        written = 0
        batch: list[Any] = []
        cursor = self._posts.find({}, _UNUSED).batch_size(BACKFILL_BATCH)
        async for doc in cursor:
            batch.append(
                UpdateOne(
                    {"_id": doc["_id"], "seq": {"$lt": int(doc.get(SEARCH_SEQ, 0))}},
                    {"$set": search_document(doc)},
                    upsert=True,
                )
            )
            if len(batch) >= BACKFILL_BATCH:
                written += await self._write(batch)
                batch = []
        if batch:
            written += await self._write(batch)
        return written

    async def _write(self, batch: list[Any]) -> int:
        try:
            result = await self._search.bulk_write(batch, ordered=False)
        except BulkWriteError as error:  # documents there already (same or newer): nothing to do for them
            others = [e for e in error.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
            if others:
                raise
            return int(error.details.get("nUpserted", 0)) + int(error.details.get("nModified", 0))
        return result.upserted_count + result.modified_count


class SearchIndexer(SweepingWorker):
    """Re-writes search documents left behind: posts still marked pending (their writer stopped between
    the post and its search document), and, once at start, posts stored before search documents existed.
    Woken by nothing: a writer finishes its own post; this runs every ``sweep_seconds``."""

    def __init__(self, index: SearchIndex, *, sweep_seconds: float = 30.0) -> None:
        super().__init__(sweep_seconds=sweep_seconds)
        self._index = index
        self._backfilled = False

    async def sweep(self) -> bool:
        if not self._backfilled:
            if await self._index.missing():
                written = await self._index.backfill()
                log.info("search documents backfilled", written=written)
            self._backfilled = True
        pending = await self._index.pending(SWEEP_BATCH)
        for post_id in pending:
            await self._index.resync(post_id)
        return len(pending) == SWEEP_BATCH

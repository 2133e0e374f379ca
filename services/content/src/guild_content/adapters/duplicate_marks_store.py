"""Curators' duplicate marks on questions: ``duplicate_of`` on the later question, with its event.

A mark is one write guarded by the question having no mark (``$exists: false``), carrying the
``question_marked_duplicate`` event in the same write; taking it back is one write guarded by the mark
being the one named. Two curators marking at once: one write wins, the other reads what it points to.
"""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from guild_common.events.outbox import OutboxWake, merge_updates, outbox_update
from guild_common.mongo import Document, StoreSchema
from guild_content.adapters.outbound_events import to_envelopes
from guild_content.domain.community import CommunityView
from guild_content.domain.duplicates import DuplicateMarked

QUESTIONS = "questions"
# The marks travel on the questions' own documents and outbox (indexed by the question store).
SCHEMA = StoreSchema(outbox_collections=[QUESTIONS])
DUPLICATE_OF = "duplicate_of"


class DuplicateMarks:
    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake) -> None:
        self._questions = db[QUESTIONS]
        self._on_events = on_events

    def _update(self, mark: DuplicateMarked, change: Document, community: CommunityView) -> Document:
        return merge_updates(
            {**change, "$inc": {"version": 1}}, outbox_update(to_envelopes([mark], community))
        )

    async def mark_duplicate(self, mark: DuplicateMarked, community: CommunityView) -> str:
        question_id = mark.question.id
        result = await self._questions.update_one(
            {"_id": question_id, DUPLICATE_OF: {"$exists": False}},
            self._update(mark, {"$set": {DUPLICATE_OF: mark.duplicate_of}}, community),
        )
        if result.modified_count == 1:
            self._on_events(QUESTIONS, question_id)
            return mark.duplicate_of
        doc = await self._questions.find_one({"_id": question_id}, {DUPLICATE_OF: 1})
        return str(doc.get(DUPLICATE_OF, "")) if doc else ""

    async def unmark_duplicate(self, mark: DuplicateMarked, community: CommunityView) -> bool:
        question_id = mark.question.id
        result = await self._questions.update_one(
            {"_id": question_id, DUPLICATE_OF: mark.duplicate_of},
            self._update(mark, {"$unset": {DUPLICATE_OF: ""}}, community),
        )
        if result.modified_count == 1:
            self._on_events(QUESTIONS, question_id)
        return result.modified_count == 1

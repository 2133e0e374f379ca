"""Pilot controls learnt from pilot_control_set events, and the samples a pilot comparison is taken over.

- ``pilot_controls``: one per pilot community (``_id``), the latest control by the event's ``version``.
- The samples are read from the insight read models (``insights_store``): members at a moment, members
  active on the days of a period, and each question's seconds to its first answer. A control list of
  people is matched by ``member_id``/``author_id`` in chunks of ``IN_CHUNK`` ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_reputation.adapters.insights_store import ACTIVITY, MEMBERS, POSTS, QUESTIONS, QUESTIONS_READ_MAX
from guild_reputation.domain.insights import PostKind, Weeks
from guild_reputation.domain.pilot import PilotControl

CONTROLS = "pilot_controls"
IN_CHUNK = 1000
# Most members of one community a participation figure reads.
MEMBERS_READ_MAX = 200_000

INDEXES = [
    IndexSpec(ACTIVITY, [("member_id", 1), ("day", 1)]),
    IndexSpec(POSTS, [("author_id", 1), ("kind", 1), ("at", 1)]),
]
SCHEMA = StoreSchema(indexes=INDEXES)


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[i : i + IN_CHUNK]) for i in range(0, len(ids), IN_CHUNK)]


class MongoPilot:
    def __init__(self, db: AsyncDatabase[Document], weeks: Weeks) -> None:
        self._controls = db[CONTROLS]
        self._members = db[MEMBERS]
        self._activity = db[ACTIVITY]
        self._posts = db[POSTS]
        self._questions = db[QUESTIONS]
        self._weeks = weeks

    # --- controls -----------------------------------------------------------------------------------

    async def set_control(self, control: PilotControl) -> None:
        """Keep ``control`` unless a later version is stored (an upsert guarded by the version: a stored
        later version makes it collide on ``_id``, which leaves that one)."""
        try:
            await self._controls.update_one(
                {"_id": control.community_id, "version": {"$lt": control.version}},
                {
                    "$set": {
                        "version": control.version,
                        "control_community_id": control.control_community_id,
                        "control_member_ids": list(control.control_member_ids),
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # this version or a later one is stored

    async def control(self, community_id: str) -> PilotControl | None:
        doc = await self._controls.find_one({"_id": community_id})
        if doc is None:
            return None
        return PilotControl(
            community_id=community_id,
            control_community_id=str(doc.get("control_community_id", "")),
            control_member_ids=tuple(doc.get("control_member_ids", [])),
            version=int(doc["version"]),
        )

    # --- samples ------------------------------------------------------------------------------------

    def _days(self, since: datetime, until: datetime) -> Document:
        first = self._weeks.day(since)
        last = self._weeks.day(until - timedelta(microseconds=1))
        return {"$gte": first, "$lte": last}

    async def members_at(self, community_id: str, at: datetime) -> set[str]:
        cursor = self._members.find(
            {"community_id": community_id, "joined_at": {"$lte": at}, "left_at": {"$gt": at}},
            {"member_id": 1},
        ).limit(MEMBERS_READ_MAX)
        return {str(doc["member_id"]) async for doc in cursor}

    async def active_in(self, community_id: str, since: datetime, until: datetime) -> set[str]:
        """Members active in the community on the days of [since, until)."""
        query = {"community_id": community_id, "day": self._days(since, until)}
        return {str(m) for m in await self._activity.distinct("member_id", query)}

    async def active_among(
        self, member_ids: Sequence[str], since: datetime, until: datetime, exclude: frozenset[str]
    ) -> set[str]:
        """Those of ``member_ids`` active on the days of [since, until) in any community but ``exclude``."""
        active: set[str] = set()
        for chunk in _chunks(member_ids):
            query: Document = {"member_id": {"$in": chunk}, "day": self._days(since, until)}
            if exclude:
                query["community_id"] = {"$nin": sorted(exclude)}
            active.update(str(m) for m in await self._activity.distinct("member_id", query))
        return active

    async def answer_seconds(self, community_id: str, since: datetime, until: datetime) -> list[float | None]:
        """Each question asked in the community in [since, until): seconds to its first answer, or None."""
        cursor = (
            self._questions.find(
                {"community_id": community_id, "asked_at": {"$gte": since, "$lt": until}},
                {"answer_seconds": 1},
            )
            .sort("asked_at", 1)
            .limit(QUESTIONS_READ_MAX)
        )
        return [_seconds(doc) async for doc in cursor]

    async def answer_seconds_by(
        self, member_ids: Sequence[str], since: datetime, until: datetime, exclude: frozenset[str]
    ) -> list[float | None]:
        """The same for the questions ``member_ids`` asked in any community but ``exclude``."""
        question_ids: list[str] = []
        for chunk in _chunks(member_ids):
            query: Document = {
                "author_id": {"$in": chunk},
                "kind": PostKind.QUESTION.value,
                "at": {"$gte": since, "$lt": until},
            }
            if exclude:
                query["community_id"] = {"$nin": sorted(exclude)}
            cursor = self._posts.find(query, {"question_id": 1}).limit(QUESTIONS_READ_MAX - len(question_ids))
            question_ids.extend([str(doc["question_id"]) async for doc in cursor])
            if len(question_ids) >= QUESTIONS_READ_MAX:
                break
        seconds: list[float | None] = []
        for chunk in _chunks(question_ids):
            cursor = self._questions.find({"_id": {"$in": chunk}}, {"answer_seconds": 1})
            seconds.extend([_seconds(doc) async for doc in cursor])
        return seconds


def _seconds(doc: Document) -> float | None:
    value = doc.get("answer_seconds")
    return float(value) if value is not None else None

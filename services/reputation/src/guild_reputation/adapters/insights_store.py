"""Insight read models, one record per natural key, kept from events; figures are indexed counts.

- ``insight_members``: one per (community, member): latest join, leave after it, first post, first question.
- ``insight_activity``: one per (community, member, day) the member posted, answered, voted or commented.
- ``insight_posts``: one per post (question, answer, comment, resource).
- ``insight_questions``: one per question: when it was asked and when it was first answered.

Each record carries the community's region and programme, so every figure is available per community,
programme and region. Writes are absolute (a time kept as the earliest or latest seen), so redelivery
changes nothing.

Somewhat over 400 lines: the records' writes and the figures read from them are kept in one module because
both depend on the same record shapes and indexes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.atomic import (
    NO_CHANGE,
    VERSION,
    NoChange,
    update_guarded,
    version_guard,
    with_version_bump,
)
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_reputation.adapters.batched_writes import Coalesced
from guild_reputation.domain.insights import (
    MONTH,
    NEVER,
    PostKind,
    QuestionFigures,
    Scope,
    Weeks,
)

MEMBERS = "insight_members"
ACTIVITY = "insight_activity"
POSTS = "insight_posts"
QUESTIONS = "insight_questions"
# Most questions one figure reads; beyond it the figures are over the earliest asked.
QUESTIONS_READ_MAX = 50_000

INDEXES = [
    *(IndexSpec(MEMBERS, [(scope.value, 1), ("joined_at", 1)]) for scope in Scope),
    *(IndexSpec(ACTIVITY, [(scope.value, 1), ("day", 1)]) for scope in Scope),
    *(IndexSpec(POSTS, [(scope.value, 1), ("at", 1)]) for scope in Scope),
    IndexSpec(POSTS, [("author_id", 1), ("at", 1)]),
    *(IndexSpec(QUESTIONS, [(scope.value, 1), ("asked_at", 1)]) for scope in Scope),
]
SCHEMA = StoreSchema(indexes=INDEXES)


def _routing(community_id: str, region: str, programme: str) -> Document:
    return {"community_id": community_id, "region": region, "programme": programme}


def _earliest(current: Any, moment: datetime) -> datetime:
    return moment if not isinstance(current, datetime) or moment < current else current


def _stored_time(moment: datetime) -> datetime:
    """``moment`` as stored (BSON keeps milliseconds)."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _holds(doc: Document, values: Document, earliest: Document) -> bool:
    """Whether ``doc`` has ``values`` and times no later than ``earliest``'s (a ``$set`` and ``$min``
    would change nothing)."""
    if any(doc.get(name) != value for name, value in values.items()):
        return False
    return all(
        isinstance(doc.get(name), datetime)
        and doc[name].tzinfo is not None
        and doc[name] <= _stored_time(moment)
        for name, moment in earliest.items()
    )


def _unchanged(doc: Document, update: Document) -> bool:
    """Whether the ``$set`` of ``update`` would leave ``doc`` as it is."""
    for name, value in update.get("$set", {}).items():
        stored = doc.get(name)
        if isinstance(value, datetime):
            if not isinstance(stored, datetime) or stored != _stored_time(value):
                return False
        elif isinstance(value, float) or isinstance(stored, float):
            if not isinstance(stored, (int, float)) or not isinstance(value, (int, float)):
                return False
            if abs(stored - value) > 0.002:
                return False
        elif stored != value:
            return False
    return True


def _where(scope: Scope, scope_id: str, exclude: frozenset[str]) -> Document:
    """The filter of a scope, leaving out the ``exclude`` communities."""
    where: Document = {scope.value: scope_id}
    if exclude:
        where["community_id"] = {"$nin": sorted(exclude)}
    return where


class MongoInsights:
    def __init__(self, db: AsyncDatabase[Document], weeks: Weeks) -> None:
        self._members = db[MEMBERS]
        self._activity = db[ACTIVITY]
        self._posts = db[POSTS]
        self._questions = db[QUESTIONS]
        self._weeks = weeks
        # What the handlers of a batch of events do at the same time goes to the store together.
        self._batched_members = Coalesced(self._members)
        self._batched_activity = Coalesced(self._activity)
        self._batched_posts = Coalesced(self._posts)
        self._batched_questions = Coalesced(self._questions)

    # --- writes -------------------------------------------------------------------------------------

    async def member_joined(
        self, community_id: str, member_id: str, region: str, programme: str, at: datetime
    ) -> None:
        def build(doc: Document | None) -> Document | NoChange:
            doc = doc or {}
            joined = doc.get("joined_at")
            if isinstance(joined, datetime) and joined >= at:
                return NO_CHANGE  # this join or a later one is stored
            left = doc.get("left_at", NEVER)
            return {
                "$set": {
                    **_routing(community_id, region, programme),
                    "member_id": member_id,
                    "joined_at": at,
                    # A leave before this join is over.
                    "left_at": NEVER if left <= at else left,
                    "first_post_at": doc.get("first_post_at", NEVER),
                    "first_question_at": doc.get("first_question_at", NEVER),
                }
            }

        await update_guarded(self._members, f"{community_id}|{member_id}", build)

    async def member_left(
        self, community_id: str, member_id: str, region: str, programme: str, at: datetime
    ) -> None:
        def build(doc: Document | None) -> Document | NoChange:
            doc = doc or {}
            joined = doc.get("joined_at")
            if isinstance(joined, datetime) and joined > at:
                return NO_CHANGE  # rejoined since
            left = doc.get("left_at", NEVER)
            if left != NEVER and left >= at:
                return NO_CHANGE  # this leave or a later one is stored
            return {
                "$set": {**_routing(community_id, region, programme), "member_id": member_id, "left_at": at},
                "$setOnInsert": {"first_post_at": NEVER, "first_question_at": NEVER},
            }

        await update_guarded(self._members, f"{community_id}|{member_id}", build)

    async def active(
        self, community_id: str, member_id: str, region: str, programme: str, at: datetime
    ) -> None:
        day = self._weeks.day(at)
        await self._batched_activity.insert(
            {
                "_id": f"{community_id}|{member_id}|{day}",
                **_routing(community_id, region, programme),
                "member_id": member_id,
                "day": day,
            }
        )

    async def posted(
        self,
        post_id: str,
        kind: PostKind,
        community_id: str,
        author_id: str,
        region: str,
        programme: str,
        at: datetime,
        question_id: str = "",
    ) -> None:
        await self._batched_posts.insert(
            {
                "_id": f"{kind.value}:{post_id}",
                **_routing(community_id, region, programme),
                "author_id": author_id,
                "kind": kind.value,
                "at": at,
                "question_id": question_id or (post_id if kind is PostKind.QUESTION else ""),
            }
        )
        # Earliest times kept by ``$min``: one atomic upsert (on the ``_id`` alone: it cannot fail)
        # whatever the order of the events.
        earliest = {"first_post_at": at, **({"first_question_at": at} if kind is PostKind.QUESTION else {})}
        member = {**_routing(community_id, region, programme), "member_id": author_id}
        stored = await self._batched_members.find_by_id(f"{community_id}|{author_id}")
        if stored is not None and _holds(stored, member, earliest):
            # Nothing to change (times only move earlier): a read costs the store less than an update.
            await self.active(community_id, author_id, region, programme, at)
            return
        await self._batched_members.update(
            {"_id": f"{community_id}|{author_id}"},
            {
                "$set": {**_routing(community_id, region, programme), "member_id": author_id},
                "$min": earliest,
                "$setOnInsert": {
                    name: NEVER
                    for name in ("left_at", "first_post_at", "first_question_at")
                    if name not in earliest
                },
            },
            upsert=True,
        )
        await self.active(community_id, author_id, region, programme, at)

    async def _update_question(
        self,
        question_id: str,
        community_id: str,
        region: str,
        programme: str,
        field: str,
        at: datetime,
        tags: list[str] | None = None,
    ) -> None:
        def build(doc: Document | None) -> Document:
            doc = doc or {}
            times = {
                "asked_at": doc.get("asked_at", NEVER),
                "first_answer_at": doc.get("first_answer_at", NEVER),
            }
            times[field] = _earliest(None if times[field] == NEVER else times[field], at)
            answered = times["asked_at"] != NEVER and times["first_answer_at"] != NEVER
            seconds = (
                max(0.0, (times["first_answer_at"] - times["asked_at"]).total_seconds()) if answered else None
            )
            return {
                "$set": {
                    **_routing(community_id, region, programme),
                    **times,
                    "answer_seconds": seconds,
                    "tags": doc.get("tags", []) if tags is None else tags,
                }
            }

        # Most events change nothing (a question's later answers): one read, batched, tells so, and
        # what holds now holds for good (times only move earlier).
        stored = await self._batched_questions.find_by_id(question_id)
        if stored is not None and _unchanged(stored, build(stored)):
            return
        # The answer time is derived from both times: built from the read, written guarded by the
        # version read (created only if still missing); when another writer came first, read, build
        # and write again until it holds.
        try:
            if stored is None:
                created = await self._questions.update_one(
                    {"_id": question_id, VERSION: {"$exists": False}},
                    with_version_bump(build(None)),
                    upsert=True,
                )
                if created.upserted_id is not None or created.modified_count:
                    return
            elif await self._questions.find_one_and_update(
                version_guard(stored), with_version_bump(build(stored))
            ):
                return
        except DuplicateKeyError:
            pass  # created meanwhile
        await update_guarded(self._questions, question_id, build)

    async def question_asked(
        self,
        question_id: str,
        community_id: str,
        region: str,
        programme: str,
        at: datetime,
        tags: list[str] | None = None,
    ) -> None:
        await self._update_question(question_id, community_id, region, programme, "asked_at", at, tags)

    async def question_answered(
        self, question_id: str, community_id: str, region: str, programme: str, at: datetime
    ) -> None:
        await self._update_question(question_id, community_id, region, programme, "first_answer_at", at)

    # --- figures ------------------------------------------------------------------------------------

    async def known_community(self, community_id: str) -> bool:
        """Whether anyone ever joined or posted in the community."""
        return await self._members.find_one({"community_id": community_id}, {"_id": 1}) is not None

    async def members(
        self, scope: Scope, scope_id: str, at: datetime, *, exclude: frozenset[str] = frozenset()
    ) -> int:
        """Distinct members at ``at``."""
        query = {**_where(scope, scope_id, exclude), "joined_at": {"$lte": at}, "left_at": {"$gt": at}}
        if scope is Scope.COMMUNITY:
            return await self._members.count_documents(query)
        return len(await self._members.distinct("member_id", query))

    async def active_members(
        self,
        scope: Scope,
        scope_id: str,
        until: datetime,
        window: timedelta,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> int:
        """Distinct members active on the ``window.days`` days up to ``until``."""
        first, last = self._weeks.days_before(until, window)
        days = {"$gte": first, "$lte": last}
        query = {**_where(scope, scope_id, exclude), "day": days}
        return len(await self._activity.distinct("member_id", query))

    async def contributors(
        self,
        scope: Scope,
        scope_id: str,
        since: datetime,
        until: datetime,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> int:
        query = {**_where(scope, scope_id, exclude), "at": {"$gte": since, "$lt": until}}
        return len(await self._posts.distinct("author_id", query))

    async def top_contributors(
        self,
        scope: Scope,
        scope_id: str,
        since: datetime,
        until: datetime,
        limit: int,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> list[tuple[str, int]]:
        """The members with most posts in the span, most first, ties by member id."""
        pipeline: list[Document] = [
            {"$match": {**_where(scope, scope_id, exclude), "at": {"$gte": since, "$lt": until}}},
            {"$group": {"_id": "$author_id", "posts": {"$sum": 1}}},
            {"$sort": {"posts": -1, "_id": 1}},
            {"$limit": limit},
        ]
        cursor = await self._posts.aggregate(pipeline)
        return [(str(doc["_id"]), int(doc["posts"])) async for doc in cursor]

    async def posts(
        self,
        scope: Scope,
        scope_id: str,
        since: datetime,
        until: datetime,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> dict[PostKind, int]:
        return {
            kind: await self._posts.count_documents(
                {**_where(scope, scope_id, exclude), "at": {"$gte": since, "$lt": until}, "kind": kind.value}
            )
            for kind in PostKind
        }

    async def questions(
        self,
        scope: Scope,
        scope_id: str,
        since: datetime,
        until: datetime,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> QuestionFigures:
        cursor = (
            self._questions.find(
                {**_where(scope, scope_id, exclude), "asked_at": {"$gte": since, "$lt": until}},
                {"answer_seconds": 1},
            )
            .sort("asked_at", 1)
            .limit(QUESTIONS_READ_MAX)
        )
        seconds = [doc.get("answer_seconds") async for doc in cursor]
        return QuestionFigures.of([float(s) if s is not None else None for s in seconds])

    async def new_starters(
        self, scope: Scope, scope_id: str, at: datetime, *, exclude: frozenset[str] = frozenset()
    ) -> tuple[int, int]:
        """Members at ``at`` who joined in the 30 days before it, and how many of them have posted."""
        query: Document = {
            **_where(scope, scope_id, exclude),
            "joined_at": {"$gte": at - MONTH, "$lte": at},
            "left_at": {"$gt": at},
        }
        posted = {**query, "first_post_at": {"$lte": at}}
        if scope is Scope.COMMUNITY:
            return await self._members.count_documents(query), await self._members.count_documents(posted)
        return (
            len(await self._members.distinct("member_id", query)),
            len(await self._members.distinct("member_id", posted)),
        )

    async def starters_asking_soon(
        self, community_id: str, since: datetime, until: datetime, within: timedelta
    ) -> tuple[int, int]:
        """Members who joined in [since, until) and are still members, and how many asked a question
        within ``within`` of joining."""
        cursor = self._members.find(
            {
                "community_id": community_id,
                "joined_at": {"$gte": since, "$lt": until},
                "left_at": {"$gt": until},
            },
            {"joined_at": 1, "first_question_at": 1},
        ).limit(QUESTIONS_READ_MAX)
        joined = asked = 0
        async for doc in cursor:
            joined += 1
            if doc["first_question_at"] - doc["joined_at"] <= within:
                asked += 1
        return joined, asked

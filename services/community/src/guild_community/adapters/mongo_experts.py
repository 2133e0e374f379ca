"""The expert directory in MongoDB.

``experts``: one record per (scope, topic, person), ``_id`` ``<scope>:<tag>:<member id>`` (neither a scope
nor a tag holds ':'), with points, declared, member, score and listed; a page is one indexed query on
``(scope, tag, listed, score desc, member_id)``. ``expert_points``: one record per ledger entry and tag
(``<entry id>:<tag>``), the facts points are recounted from, so a repeated event cannot count twice.
``expert_tags``: per scope and person, the topics they have records for (read by ``_id``; topics are only
ever added, with ``$addToSet``).
The directory reads this service's profiles, memberships and communities to decide declared and member.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import InsertOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from guild_common.doclocks import document_lock
from guild_common.mongo import Document, IndexSpec
from guild_common.pagination import decode_token, encode_token
from guild_community.adapters.mongo_people import PROFILES
from guild_community.adapters.mongo_repository import (
    COMMUNITIES,
    DEPARTURES,
    MEMBERSHIPS,
    MINE_LIMIT,
    departure_id,
)
from guild_community.app.experts import ExpertPage, PointsEntry
from guild_community.domain.experts import ALL_COMMUNITIES, Expert, expert_score, is_listed
from guild_community.domain.model import Visibility, membership_key

EXPERTS = "experts"
EXPERT_POINTS = "expert_points"
EXPERT_TAGS = "expert_tags"

EXPERT_INDEXES = [
    IndexSpec(EXPERTS, [("scope", 1), ("tag", 1), ("listed", 1), ("score", -1), ("member_id", 1)]),
    IndexSpec(EXPERT_POINTS, [("community_id", 1), ("tag", 1), ("member_id", 1)]),
    IndexSpec(EXPERT_POINTS, [("tag", 1), ("member_id", 1)]),
]


class MongoExpertDirectory:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._experts = db[EXPERTS]
        self._points = db[EXPERT_POINTS]
        self._tags = db[EXPERT_TAGS]
        self._profiles = db[PROFILES]
        self._memberships = db[MEMBERSHIPS]
        self._communities = db[COMMUNITIES]
        self._departures = db[DEPARTURES]

    async def add_points(self, entry: PointsEntry) -> None:
        ops = [
            InsertOne(
                {
                    "_id": f"{entry.entry_id}:{tag}",
                    "entry_id": entry.entry_id,
                    "community_id": entry.community_id,
                    "member_id": entry.member_id,
                    "tag": tag,
                    "amount": entry.amount,
                    "time": entry.time,
                }
            )
            for tag in entry.tags
        ]
        try:
            await self._points.bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    async def refresh(self, scope: str, member_id: str, tags: Sequence[str] = ()) -> None:
        tags_id = f"{scope}:{member_id}"
        async with document_lock(EXPERT_TAGS, tags_id):
            known_doc = await self._tags.find_one({"_id": tags_id})
            known = set(known_doc.get("tags", [])) if known_doc else set()
            topics = known | await self._expertise(member_id) | set(tags)
            if topics - known:
                # Added to the set, not written whole: another replica adding a topic at the same time
                # (MongoDB applies each update atomically) keeps it.
                await self._tags.update_one(
                    {"_id": tags_id}, {"$addToSet": {"tags": {"$each": sorted(topics - known)}}}, upsert=True
                )
        for tag in sorted(topics):
            doc_id = f"{scope}:{tag}:{member_id}"
            # Every fact is read under the record's lock, so of two refreshes the later one writes what
            # is true after both.
            async with document_lock(EXPERTS, doc_id):
                member = await self._is_member(scope, member_id)
                declared = member and tag in await self._expertise(member_id)
                points = await self._sum_points(scope, tag, member_id)
                await self._experts.update_one(
                    {"_id": doc_id},
                    {
                        "$set": {
                            "scope": scope,
                            "tag": tag,
                            "member_id": member_id,
                            "points": points,
                            "declared": declared,
                            "member": member,
                            "score": expert_score(points, declared),
                            "listed": is_listed(points, declared, member),
                        }
                    },
                    upsert=True,
                )

    async def communities_of(self, member_id: str) -> list[str]:
        cursor = self._memberships.find({"member_id": member_id}, {"community_id": 1}).limit(MINE_LIMIT)
        return [d["community_id"] async for d in cursor]

    async def earners_in(self, community_id: str) -> set[tuple[str, str]]:
        cursor = self._points.find({"community_id": community_id}, {"tag": 1, "member_id": 1})
        return {(d["tag"], d["member_id"]) async for d in cursor}

    async def list_experts(self, scope: str, tag: str, page_size: int, page_token: str) -> ExpertPage:
        query: dict[str, Any] = {"scope": scope, "tag": tag, "listed": True}
        position = decode_token(page_token)
        if position:
            score, after = int(position.get("s", 0)), str(position.get("m", ""))
            query["$or"] = [{"score": {"$lt": score}}, {"score": score, "member_id": {"$gt": after}}]
        cursor = (
            self._experts.find(query, {"member_id": 1, "points": 1, "declared": 1, "score": 1})
            .sort([("score", -1), ("member_id", 1)])
            .limit(page_size + 1)
        )
        docs = await cursor.to_list()
        next_token = ""
        if len(docs) > page_size:
            docs = docs[:page_size]
            next_token = encode_token({"s": docs[-1]["score"], "m": docs[-1]["member_id"]})
        ids = [d["member_id"] for d in docs]
        names = {
            p["_id"]: p
            async for p in self._profiles.find({"_id": {"$in": ids}}, {"display_name": 1, "job_title": 1})
        }
        experts = [
            Expert(
                member_id=d["member_id"],
                declared=bool(d["declared"]),
                points=int(d["points"]),
                score=int(d["score"]),
                display_name=names.get(d["member_id"], {}).get("display_name", ""),
                job_title=names.get(d["member_id"], {}).get("job_title", ""),
            )
            for d in docs
        ]
        return ExpertPage(experts, next_token)

    async def _expertise(self, member_id: str) -> set[str]:
        profile = await self._profiles.find_one({"_id": member_id}, {"expertise": 1})
        return set(profile.get("expertise", [])) if profile else set()

    async def _is_member(self, scope: str, member_id: str) -> bool:
        if scope == ALL_COMMUNITIES:
            return True
        # An active membership: one whose departure is not recorded. The member_left event goes out with
        # the departure record, possibly before the membership is deleted.
        key = membership_key(scope, member_id)
        doc = await self._memberships.find_one({"_id": key}, {"join_time": 1})
        if doc is None:
            return False
        ended = await self._departures.find_one({"_id": departure_id(key, doc["join_time"])}, {"_id": 1})
        return ended is None

    async def _sum_points(self, scope: str, tag: str, member_id: str) -> int:
        query: dict[str, Any] = {"tag": tag, "member_id": member_id}
        if scope != ALL_COMMUNITIES:
            query["community_id"] = scope
        else:
            cursor = self._communities.find({"visibility": Visibility.HIDDEN.value}, {"_id": 1})
            hidden = [d["_id"] async for d in cursor]
            if hidden:
                query["community_id"] = {"$nin": hidden}
        return sum([int(d["amount"]) async for d in self._points.find(query, {"amount": 1})])

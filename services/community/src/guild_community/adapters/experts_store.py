"""The expert directory in MongoDB.

``experts``: one record per (scope, topic, person), ``_id`` ``<scope>:<tag>:<member id>`` (neither a scope
nor a tag holds ':'), with points, declared, member, score and listed; a page is one indexed query on
``(scope, tag, listed, score desc, member_id)``. Points and score are counters moved by ``$inc`` as points
arrive, never recounted on that path; ``listed`` is settled by guarded updates after every change.
``expert_points``: one record per ledger entry and tag (``<entry id>:<tag>``): its insert decides that an
entry counts once, and it is what points across communities are recounted from when a community is
hidden or shown again.
``expert_tags``: per scope and person, the topics they have records for (read by ``_id``; topics are only
ever added, with ``$addToSet``).
The directory reads this service's profiles, memberships and communities to decide declared and member.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.atomic import update_guarded
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_common.pagination import Page, decode_token, encode_token
from guild_community.adapters.communities_store import COMMUNITIES, MINE_LIMIT
from guild_community.adapters.membership_store import DEPARTURES, MEMBERSHIPS, departure_id
from guild_community.adapters.people_store import PROFILES
from guild_community.app.ports import PointsEntry
from guild_community.domain.communities import Visibility
from guild_community.domain.experts import ALL_COMMUNITIES, DECLARED_BONUS, Expert, expert_score
from guild_community.domain.membership import membership_key

EXPERTS = "experts"
EXPERT_POINTS = "expert_points"
EXPERT_TAGS = "expert_tags"

SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(EXPERTS, [("scope", 1), ("tag", 1), ("listed", 1), ("score", -1), ("member_id", 1)]),
        IndexSpec(EXPERT_POINTS, [("community_id", 1), ("tag", 1), ("member_id", 1)]),
        IndexSpec(EXPERT_POINTS, [("tag", 1), ("member_id", 1)]),
    ],
)


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
        """Record the entry once per tag (natural ``_id``); the insert that stores it adds its amount to
        the member's records in the community and, unless the community is hidden, across communities."""
        hidden = await self._is_hidden(entry.community_id)
        for tag in entry.tags:
            try:
                await self._points.insert_one(
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
            except DuplicateKeyError:
                continue  # counted when first stored
            scopes = [entry.community_id] if hidden else [entry.community_id, ALL_COMMUNITIES]
            for scope in scopes:
                await self._upsert(
                    scope, tag, entry.member_id, {"$inc": {"points": entry.amount, "score": entry.amount}}
                )
                await self._settle_listed(f"{scope}:{tag}:{entry.member_id}")

    async def refresh(self, scope: str, member_id: str, tags: Sequence[str] = ()) -> None:
        """Set ``member`` and ``declared`` of the member's records in ``scope`` from the facts now; points
        are counters kept by :meth:`add_points` and are not recounted here."""
        tags_id = f"{scope}:{member_id}"
        known_doc = await self._tags.find_one({"_id": tags_id})
        known = set(known_doc.get("tags", [])) if known_doc else set()
        expertise = await self._expertise(member_id)
        topics = known | expertise | set(tags)
        if topics - known:
            # Added to the set, not written whole: another replica adding a topic at once keeps it.
            await self._tags.update_one(
                {"_id": tags_id}, {"$addToSet": {"tags": {"$each": sorted(topics - known)}}}, upsert=True
            )
        member = await self._is_member(scope, member_id)
        for tag in sorted(topics):
            doc_id = f"{scope}:{tag}:{member_id}"
            declared = member and tag in expertise
            await self._upsert(scope, tag, member_id, {"$set": {"member": member}})
            # The bonus moves with ``declared`` only when it flips, whoever flips it.
            bonus = DECLARED_BONUS if declared else -DECLARED_BONUS
            await self._experts.update_one(
                {"_id": doc_id, "declared": not declared},
                {"$set": {"declared": declared}, "$inc": {"score": bonus, "version": 1}},
            )
            await self._settle_listed(doc_id)

    async def recount(self, member_id: str, tag: str) -> None:
        """Recount the member's points in ``tag`` across communities from the ledger: after a community
        is hidden or shown again (rare; never on a points change). Guarded by the record's version, which
        every points change moves."""
        points = await self._sum_points(ALL_COMMUNITIES, tag, member_id)

        def build(doc: Document | None) -> Document:
            declared = bool(doc and doc.get("declared"))
            return {
                "$set": {"points": points, "score": expert_score(points, declared)},
                "$setOnInsert": _new_record(ALL_COMMUNITIES, tag, member_id, fields=("points", "score")),
            }

        await update_guarded(self._experts, f"{ALL_COMMUNITIES}:{tag}:{member_id}", build)
        await self._settle_listed(f"{ALL_COMMUNITIES}:{tag}:{member_id}")

    async def _upsert(self, scope: str, tag: str, member_id: str, update: Document) -> None:
        """``update`` on the record, creating it (not listed, no points) if there is none."""
        changed = {name for fields in update.values() for name in fields}
        full = {**update, "$setOnInsert": _new_record(scope, tag, member_id, fields=changed)}
        full.setdefault("$inc", {})["version"] = 1
        for _ in range(2):  # two first upserts of one record may clash once; the loser then updates
            try:
                await self._experts.update_one({"_id": f"{scope}:{tag}:{member_id}"}, full, upsert=True)
                return
            except DuplicateKeyError:
                continue

    async def _settle_listed(self, doc_id: str) -> None:
        """Make ``listed`` agree with the record as it is now. Every change runs this after it, so the
        last one to run sees the last change."""
        await self._experts.update_one(
            {
                "_id": doc_id,
                "listed": {"$ne": True},
                "member": True,
                "$or": [{"declared": True}, {"points": {"$gt": 0}}],
            },
            {"$set": {"listed": True}},
        )
        await self._experts.update_one(
            {
                "_id": doc_id,
                "listed": True,
                "$or": [{"member": {"$ne": True}}, {"declared": {"$ne": True}, "points": {"$lte": 0}}],
            },
            {"$set": {"listed": False}},
        )

    async def _is_hidden(self, community_id: str) -> bool:
        doc = await self._communities.find_one({"_id": community_id}, {"visibility": 1})
        return doc is not None and doc.get("visibility") == Visibility.HIDDEN.value

    async def communities_of(self, member_id: str) -> list[str]:
        cursor = self._memberships.find({"member_id": member_id}, {"community_id": 1}).limit(MINE_LIMIT)
        return [d["community_id"] async for d in cursor]

    async def earners_in(self, community_id: str) -> set[tuple[str, str]]:
        cursor = self._points.find({"community_id": community_id}, {"tag": 1, "member_id": 1})
        return {(d["tag"], d["member_id"]) async for d in cursor}

    async def list_experts(self, scope: str, tag: str, page_size: int, page_token: str) -> Page[Expert]:
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
        return Page(experts, next_token)

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


def _new_record(scope: str, tag: str, member_id: str, *, fields: Any) -> Document:
    """A new record's fields, bar ``fields`` (which the creating update sets itself)."""
    record: Document = {
        "scope": scope,
        "tag": tag,
        "member_id": member_id,
        "points": 0,
        "score": 0,
        "declared": False,
        "member": False,
        "listed": False,
    }
    return {name: value for name, value in record.items() if name not in fields}

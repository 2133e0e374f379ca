"""CPD rules, credits, cap counters and sharing consents in MongoDB.

- ``cpd_rules``: one per community (``_id`` the community); ``since`` is when it first had rules, and a
  document without ``time_zone`` (stored before zones existed) reads as UTC.
- ``cpd_credits``: one per credit, ``_id`` ``<event id>:<rule>``; a unique ``target_key`` (community,
  member, activity, target) so an answer, resource, survey or collection credits a member once whatever
  the events about it. A credit that counts carries its ``cpd_credit_recorded`` event in its outbox.
- ``cpd_counters``: one per member, community and CPD year (``y:``) or calendar month (``m:``): the
  minutes counted and the ids of the credits counted, so that counting a credit is one guarded ``$inc``
  (``minutes <= cap - amount`` and the credit not yet in ``ids``), exact under redelivery and with
  any number of handlers at once.
- ``cpd_consents``: one per member and community: whether the owners see the member's totals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.events.outbox import (
    merge_updates,
    outbox_indexes,
    outbox_update,
)
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_common.pagination import Page
from guild_reputation.adapters.outbound_events import cpd_credit_recorded
from guild_reputation.domain.cpd import (
    CpdActivity,
    CpdCredit,
    CpdRules,
    CreditState,
    MemberTotal,
    Reflection,
    Totals,
)

RULES = "cpd_rules"
CREDITS = "cpd_credits"
COUNTERS = "cpd_counters"
CONSENTS = "cpd_consents"
OUTBOX_COLLECTIONS = [CREDITS]
# Most credits one export holds; most communities one learner's statement looks up.
EXPORT_MAX = 5_000
COMMUNITIES_MAX = 200

INDEXES = [
    IndexSpec(CREDITS, [("target_key", 1)], unique=True),
    IndexSpec(CREDITS, [("member_id", 1), ("cpd_year", 1), ("time", 1), ("_id", 1)]),
    IndexSpec(COUNTERS, [("community_id", 1), ("kind", 1), ("year", 1), ("member_id", 1)]),
    IndexSpec(CONSENTS, [("community_id", 1), ("shared", 1), ("member_id", 1), ("_id", 1)]),
    *outbox_indexes(OUTBOX_COLLECTIONS),
]
SCHEMA = StoreSchema(indexes=INDEXES, outbox_collections=OUTBOX_COLLECTIONS)
_NO_OUTBOX = {"outbox": 0, "outbox_pending": 0, "outbox_seq": 0}


def year_counter(credit: CpdCredit) -> str:
    return f"y:{credit.community_id}:{credit.member_id}:{credit.cpd_year}"


def month_counter(credit: CpdCredit) -> str:
    return f"m:{credit.community_id}:{credit.member_id}:{credit.month}"


def _rules_from(doc: Document) -> CpdRules:
    return CpdRules(
        community_id=doc["_id"],
        minutes={CpdActivity(k): int(v) for k, v in doc["minutes"].items()},
        year_cap=int(doc["year_cap"]),
        month_cap=int(doc["month_cap"]),
        reflection_required=bool(doc["reflection_required"]),
        year_start_month=int(doc["year_start_month"]),
        updated_by=doc.get("updated_by", ""),
        update_time=doc.get("update_time"),
        time_zone=str(doc.get("time_zone", "")),
        since=doc.get("since"),
    )


def _credit_doc(c: CpdCredit) -> Document:
    return {
        "_id": c.id,
        "community_id": c.community_id,
        "member_id": c.member_id,
        "activity": c.activity.value,
        "minutes": c.minutes,
        "state": c.state.value,
        "cpd_year": c.cpd_year,
        "month": c.month,
        "time": c.time,
        "target_id": c.target_id,
        "target_key": c.target_key,
        "description": c.description,
        "evidence_url": c.evidence_url,
        "source_event_id": c.source_event_id,
        "region": c.region,
        "programme": c.programme,
        "reflection": None,
    }


def _reflection_doc(r: Reflection) -> Document:
    return {"learned": r.learned, "practice_change": r.practice_change, "time": r.time}


def credit_from(doc: Document) -> CpdCredit:
    r = doc.get("reflection")
    return CpdCredit(
        id=doc["_id"],
        community_id=doc["community_id"],
        member_id=doc["member_id"],
        activity=CpdActivity(doc["activity"]),
        minutes=int(doc["minutes"]),
        state=CreditState(doc["state"]),
        cpd_year=int(doc["cpd_year"]),
        month=doc["month"],
        time=doc["time"],
        target_id=doc["target_id"],
        description=doc.get("description", ""),
        evidence_url=doc.get("evidence_url", ""),
        source_event_id=doc.get("source_event_id", ""),
        region=doc.get("region", ""),
        programme=doc.get("programme", ""),
        reflection=Reflection(r["learned"], r["practice_change"], r["time"]) if r else None,
    )


class MongoCpd:
    def __init__(self, db: AsyncDatabase[Document], on_events: Callable[..., None]) -> None:
        self._rules = db[RULES]
        self._credits = db[CREDITS]
        self._counters = db[COUNTERS]
        self._consents = db[CONSENTS]
        self._on_events = on_events

    # --- rules --------------------------------------------------------------------------------------

    async def put_rules(self, rules: CpdRules) -> None:
        await self._rules.update_one(
            {"_id": rules.community_id},
            {
                "$set": {
                    "minutes": {a.value: m for a, m in rules.minutes.items()},
                    "year_cap": rules.year_cap,
                    "month_cap": rules.month_cap,
                    "reflection_required": rules.reflection_required,
                    "year_start_month": rules.year_start_month,
                    "updated_by": rules.updated_by,
                    "update_time": rules.update_time,
                    "time_zone": rules.time_zone,
                },
                "$setOnInsert": {"since": rules.update_time},
                "$inc": {"version": 1},
            },
            upsert=True,
        )

    async def rules(self, community_id: str) -> CpdRules | None:
        doc = await self._rules.find_one({"_id": community_id})
        return _rules_from(doc) if doc else None

    async def rules_of(self, community_ids: Sequence[str]) -> dict[str, CpdRules]:
        if not community_ids:
            return {}
        cursor = self._rules.find({"_id": {"$in": list(community_ids)}}).limit(COMMUNITIES_MAX)
        return {doc["_id"]: _rules_from(doc) async for doc in cursor}

    # --- credits ------------------------------------------------------------------------------------

    async def add(self, credit: CpdCredit) -> CpdCredit | None:
        """Store the credit; the one stored before under its id when it exists (redelivered), or None
        when another event credited the member for the same target already."""
        try:
            await self._credits.insert_one(_credit_doc(credit))
            return credit
        except DuplicateKeyError:
            doc = await self._credits.find_one({"_id": credit.id}, _NO_OUTBOX)
            return credit_from(doc) if doc else None

    async def get(self, credit_id: str) -> CpdCredit | None:
        doc = await self._credits.find_one({"_id": credit_id}, _NO_OUTBOX)
        return credit_from(doc) if doc else None

    async def start_reflection(
        self, credit_id: str, member_id: str, reflection: Reflection
    ) -> CpdCredit | None:
        """Keep the reflection on the member's credit waiting for one and start counting it."""
        doc = await self._credits.find_one_and_update(
            {"_id": credit_id, "member_id": member_id, "state": CreditState.PENDING.value},
            {"$set": {"state": CreditState.RESERVING.value, "reflection": _reflection_doc(reflection)}},
            return_document=ReturnDocument.AFTER,
        )
        return credit_from(doc) if doc else None

    async def add_reflection(
        self, credit_id: str, member_id: str, reflection: Reflection
    ) -> CpdCredit | None:
        """Keep the reflection on the member's settled credit that has none (nothing else changes)."""
        doc = await self._credits.find_one_and_update(
            {
                "_id": credit_id,
                "member_id": member_id,
                "state": {"$in": [CreditState.COUNTED.value, CreditState.OVER_CAP.value]},
                "reflection": None,
            },
            {"$set": {"reflection": _reflection_doc(reflection)}},
            return_document=ReturnDocument.AFTER,
        )
        return credit_from(doc) if doc else None

    async def finish(self, credit: CpdCredit, state: CreditState, at: datetime) -> bool:
        """Settle a credit being counted, with its ``cpd_credit_recorded`` event when it counts; False
        when it was settled already."""
        update: Document = {"$set": {"state": state.value, "settle_time": at}}
        if state is CreditState.COUNTED:
            update = merge_updates(update, outbox_update([cpd_credit_recorded(credit, at)]))
        done = await self._credits.find_one_and_update(
            {"_id": credit.id, "state": CreditState.RESERVING.value}, update
        )
        if done is not None and state is CreditState.COUNTED:
            self._on_events(CREDITS, credit.id)
        return done is not None

    # --- caps ---------------------------------------------------------------------------------------

    async def reserve(
        self, counter_id: str, fields: Document, credit_id: str, minutes: int, cap: int
    ) -> bool:
        """Count ``minutes`` of the credit on the counter unless that passes ``cap``; True when counted
        (now or before)."""
        if minutes > cap:
            return False
        try:
            await self._counters.update_one(
                {"_id": counter_id},
                {"$setOnInsert": {**fields, "minutes": 0, "credits": 0, "ids": []}},
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # made at the same moment by another handler
        counted = await self._counters.update_one(
            {"_id": counter_id, "ids": {"$ne": credit_id}, "minutes": {"$lte": cap - minutes}},
            {"$inc": {"minutes": minutes, "credits": 1}, "$push": {"ids": credit_id}},
        )
        if counted.modified_count:
            return True
        return await self._counters.count_documents({"_id": counter_id, "ids": credit_id}) > 0

    async def release(self, counter_id: str, credit_id: str, minutes: int) -> None:
        """Take the credit's minutes off the counter if they are on it."""
        await self._counters.update_one(
            {"_id": counter_id, "ids": credit_id},
            {"$inc": {"minutes": -minutes, "credits": -1}, "$pull": {"ids": credit_id}},
        )

    # --- reads --------------------------------------------------------------------------------------

    def _log_query(self, member_id: str, year: int, community_id: str) -> Document:
        query: Document = {"member_id": member_id, "cpd_year": year}
        if community_id:
            query["community_id"] = community_id
        return query

    async def page(
        self, member_id: str, year: int, community_id: str, page_size: int, page_token: str
    ) -> Page[CpdCredit]:
        docs, token = await keyset_page(
            self._credits,
            self._log_query(member_id, year, community_id),
            sort_field="time",
            descending=False,
            page_size=page_size,
            page_token=page_token,
            projection=_NO_OUTBOX,
        )
        return Page([credit_from(d) for d in docs], token)

    async def log(self, member_id: str, year: int, community_id: str, limit: int) -> list[CpdCredit]:
        cursor = (
            self._credits.find(self._log_query(member_id, year, community_id), _NO_OUTBOX)
            .sort([("time", 1), ("_id", 1)])
            .limit(limit)
        )
        return [credit_from(d) async for d in cursor]

    async def totals(self, member_id: str, year: int, community_id: str) -> Totals:
        # One accumulator per $group: the FerretDB in use fills only the first of several.
        match = {"$match": self._log_query(member_id, year, community_id)}
        key = {"state": "$state", "activity": "$activity"}
        sums: dict[tuple[str, str], list[int]] = {}
        for i, accumulator in enumerate(("$minutes", 1)):
            pipeline: list[Document] = [match, {"$group": {"_id": key, "sum": {"$sum": accumulator}}}]
            async for row in await self._credits.aggregate(pipeline):
                pair = (str(row["_id"]["state"]), str(row["_id"]["activity"]))
                sums.setdefault(pair, [0, 0])[i] = int(row["sum"])
        counted = pending = counted_n = pending_n = over = 0
        by_activity: dict[CpdActivity, int] = {}
        for (state_name, activity_name), (minutes, n) in sums.items():
            state, activity = CreditState(state_name), CpdActivity(activity_name)
            if state is CreditState.COUNTED:
                counted, counted_n = counted + minutes, counted_n + n
                by_activity[activity] = by_activity.get(activity, 0) + minutes
            elif state is CreditState.OVER_CAP:
                over += n
            else:
                pending, pending_n = pending + minutes, pending_n + n
        return Totals(
            counted_minutes=counted,
            pending_minutes=pending,
            counted_credits=counted_n,
            pending_credits=pending_n,
            over_cap_credits=over,
            by_activity=tuple((a, by_activity[a]) for a in CpdActivity if a in by_activity),
        )

    # --- consent ------------------------------------------------------------------------------------

    async def set_sharing(self, community_id: str, member_id: str, shared: bool, at: datetime) -> None:
        await self._consents.update_one(
            {"_id": f"{community_id}:{member_id}"},
            {
                "$set": {
                    "community_id": community_id,
                    "member_id": member_id,
                    "shared": shared,
                    "update_time": at,
                },
                "$inc": {"version": 1},
            },
            upsert=True,
        )

    async def shared_page(
        self, community_id: str, year: int, page_size: int, page_token: str
    ) -> Page[MemberTotal]:
        docs, token = await keyset_page(
            self._consents,
            {"community_id": community_id, "shared": True},
            sort_field="member_id",
            descending=False,
            page_size=page_size,
            page_token=page_token,
            projection={"member_id": 1},
        )
        members = [str(d["member_id"]) for d in docs]
        found: dict[str, Document] = {}
        if members:
            cursor = self._counters.find(
                {"_id": {"$in": [f"y:{community_id}:{m}:{year}" for m in members]}},
                {"member_id": 1, "minutes": 1, "credits": 1},
            )
            found = {str(d["member_id"]): d async for d in cursor}
        totals = [
            MemberTotal(
                m,
                int(found[m]["minutes"]) if m in found else 0,
                int(found[m]["credits"]) if m in found else 0,
            )
            for m in members
        ]
        return Page(totals, token)

    async def not_shared(self, community_id: str, year: int) -> int:
        """Members with CPD minutes in the community's year who do not share them."""
        query: Document = {"community_id": community_id, "kind": "year", "year": year, "credits": {"$gt": 0}}
        with_minutes = await self._counters.count_documents(query)
        if not with_minutes:
            return 0
        shared = await self._consents.distinct("member_id", {"community_id": community_id, "shared": True})
        if not shared:
            return with_minutes
        return with_minutes - await self._counters.count_documents({**query, "member_id": {"$in": shared}})

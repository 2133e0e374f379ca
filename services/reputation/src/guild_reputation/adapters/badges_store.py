"""Badge awards (with their ``badge_awarded`` events in the outbox) and the facts badges are counted from.

An award's ``_id`` is ``<community>:<member>:<badge>:<tier>``, a fact's is its natural key: both are
inserted once however often an event is delivered.

The badges read facts back as sets addressed by ``_id`` in ``badge_fact_sets`` (a fact's id per
(community, kind, subject), a fact's subject per (community, member, kind)), so counting them costs the
same however many facts are stored. ``$addToSet`` keeps them idempotent: a fact is added to its sets
every time it is handled, so a crash after its insert is repaired by the redelivery. Sets are as large
as what they count (answers to one question, weeks one member contributed, collections one curator
keeps). ``migrate_fact_sets`` builds them once from the facts stored before them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.events.outbox import outbox_fields, outbox_indexes
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_common.pagination import Page
from guild_reputation.adapters.batched_writes import Coalesced
from guild_reputation.adapters.ledger_documents import (
    COUNTERS,
    DISTINCT_TARGET_RULES,
    LEDGER,
    META,
    targets_counter_id,
)
from guild_reputation.adapters.outbound_events import badge_awarded
from guild_reputation.domain.badges import Award, Tier

BADGE_AWARDS = "badge_awards"
BADGE_FACTS = "badge_facts"
BADGE_FACT_SETS = "badge_fact_sets"
_FACT_SETS_MIGRATION = "fact_sets_from_facts"


def facts_by_subject_id(community_id: str, kind: str, subject_id: str) -> str:
    return f"subject|{community_id}|{kind}|{subject_id}"


def subjects_by_member_id(community_id: str, member_id: str, kind: str) -> str:
    return f"member|{community_id}|{member_id}|{kind}"


OUTBOX_COLLECTIONS = [BADGE_AWARDS]
INDEXES = [
    IndexSpec(BADGE_AWARDS, [("member_id", 1), ("award_time", -1)]),
    IndexSpec(BADGE_AWARDS, [("member_id", 1), ("community_id", 1), ("award_time", -1)]),
    IndexSpec(BADGE_FACTS, [("community_id", 1), ("kind", 1), ("subject_id", 1)]),
    IndexSpec(BADGE_FACTS, [("community_id", 1), ("member_id", 1), ("kind", 1)]),
    *outbox_indexes(OUTBOX_COLLECTIONS),
]
SCHEMA = StoreSchema(indexes=INDEXES, outbox_collections=OUTBOX_COLLECTIONS)


def award_from(doc: Document) -> Award:
    return Award(
        id=doc["_id"],
        community_id=doc["community_id"],
        member_id=doc["member_id"],
        badge=str(doc["badge"]),
        tier=Tier(doc["tier"]),
        time=doc["award_time"],
        citation=doc.get("citation", ""),
        granted_by=doc.get("granted_by", ""),
        source_event_id=doc.get("source_event_id", ""),
        definition_id=doc.get("definition_id", ""),
        custom_title=doc.get("custom_title", ""),
        description=doc.get("description", ""),
        criteria=doc.get("criteria", ""),
    )


class MongoBadges:
    def __init__(self, db: AsyncDatabase[Document], on_events: Callable[..., None]) -> None:
        self._awards = db[BADGE_AWARDS]
        self._facts = db[BADGE_FACTS]
        self._fact_sets = db[BADGE_FACT_SETS]
        self._meta = db[META]
        self._ledger = db[LEDGER]
        self._counters = db[COUNTERS]
        self._on_events = on_events
        # What the handlers of a batch of events do at the same time goes to the store together.
        self._batched_awards = Coalesced(self._awards)
        self._batched_facts = Coalesced(self._facts)
        self._batched_sets = Coalesced(self._fact_sets)
        self._batched_counters = Coalesced(self._counters)

    async def award(self, award: Award, *, region: str, programme: str) -> bool:
        """Store the award and its event; False when it was awarded before."""
        doc = {
            "_id": award.id,
            "community_id": award.community_id,
            "member_id": award.member_id,
            "badge": award.badge,
            "tier": award.tier.value,
            "citation": award.citation,
            "granted_by": award.granted_by,
            "source_event_id": award.source_event_id,
            "award_time": award.time,
            **(
                {
                    "definition_id": award.definition_id,
                    "custom_title": award.custom_title,
                    "description": award.description,
                    "criteria": award.criteria,
                }
                if award.definition_id
                else {}
            ),
            **outbox_fields([badge_awarded(award, region, programme)]),
        }
        if not await self._batched_awards.insert(doc):
            return False
        self._on_events(BADGE_AWARDS, award.id)  # the relay publishes it by _id
        return True

    async def get(self, award_id: str) -> Award | None:
        doc = await self._awards.find_one({"_id": award_id})
        return None if doc is None else award_from(doc)

    async def list(
        self,
        member_id: str,
        community_id: str,
        page_size: int,
        page_token: str,
        *,
        exclude: frozenset[str] = frozenset(),
    ) -> Page[Award]:
        query: Document = {"member_id": member_id}
        if community_id:
            query["community_id"] = community_id
        elif exclude:
            query["community_id"] = {"$nin": sorted(exclude)}
        docs, token = await keyset_page(
            self._awards,
            query,
            sort_field="award_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection={"outbox": 0},
        )
        return Page([award_from(d) for d in docs], token)

    async def award_communities(self, member_id: str) -> frozenset[str]:
        held = await self._awards.distinct("community_id", {"member_id": member_id})
        return frozenset(str(c) for c in held)

    async def add_fact(
        self, fact_id: str, *, community_id: str, member_id: str, kind: str, subject_id: str
    ) -> None:
        inserted = await self._batched_facts.insert(
            {
                "_id": fact_id,
                "community_id": community_id,
                "member_id": member_id,
                "kind": kind,
                "subject_id": subject_id,
            }
        )
        sets = [
            (facts_by_subject_id(community_id, kind, subject_id), "facts", fact_id),
            (subjects_by_member_id(community_id, member_id, kind), "subjects", subject_id),
        ]
        if not inserted:
            # Stored before: its sets are completed all the same (a crash may have come in between),
            # those already holding it left as they are (a read costs the store less than an update).
            held = await asyncio.gather(*(self._batched_sets.find_by_id(i, {f: 1}) for i, f, _ in sets))
            sets = [
                (i, f, v)
                for (i, f, v), doc in zip(sets, held, strict=True)
                if v not in (doc or {}).get(f, [])
            ]
        await asyncio.gather(*(self.add_to_set(set_id, field, [value]) for set_id, field, value in sets))

    async def add_to_set(self, set_id: str, field: str, values: Sequence[str]) -> None:
        # ``$addToSet`` is atomic and idempotent: each fact counts once whatever the writers. An upsert
        # on the ``_id`` alone cannot fail (MongoDB retries a racing insert, the embedded store
        # serialises it), so it goes with the other handlers' updates in one command.
        await self._batched_sets.update(
            {"_id": set_id}, {"$addToSet": {field: {"$each": [*values]}}}, upsert=True
        )

    async def count_facts(self, community_id: str, kind: str, subject_id: str) -> int:
        doc = await self._batched_sets.find_by_id(facts_by_subject_id(community_id, kind, subject_id))
        return len(doc.get("facts", [])) if doc else 0

    async def fact_subjects(self, community_id: str, member_id: str, kind: str) -> set[str]:
        doc = await self._batched_sets.find_by_id(subjects_by_member_id(community_id, member_id, kind))
        return {str(s) for s in doc.get("subjects", [])} if doc else set()

    async def migrate_fact_sets(self, *, flush_every: int = 50_000) -> int:
        """Add every stored fact to its sets, once per database (idempotent, so safe beside live
        writes); how many facts. The sets are written every ``flush_every`` facts, so memory holds
        that many at most (a set met again later is added to again: ``$addToSet``)."""
        if await self._meta.find_one({"_id": _FACT_SETS_MIGRATION}) is not None:
            return 0
        sets: dict[tuple[str, str], set[str]] = {}
        count = 0

        async def flush() -> None:
            for (set_id, field), values in sets.items():
                await self.add_to_set(set_id, field, sorted(values))
            sets.clear()

        async for doc in self._facts.find({}).batch_size(10_000):
            community_id, kind = str(doc["community_id"]), str(doc["kind"])
            member_id, subject_id = str(doc["member_id"]), str(doc["subject_id"])
            sets.setdefault((facts_by_subject_id(community_id, kind, subject_id), "facts"), set()).add(
                str(doc["_id"])
            )
            sets.setdefault((subjects_by_member_id(community_id, member_id, kind), "subjects"), set()).add(
                subject_id
            )
            count += 1
            if count % flush_every == 0:
                await flush()
        await flush()
        try:
            await self._meta.insert_one({"_id": _FACT_SETS_MIGRATION})
        except DuplicateKeyError:
            pass  # another replica finished it too
        return count

    async def distinct_targets(self, community_id: str, member_id: str, rule: str) -> int:
        """How many different posts earned the member an entry under ``rule``: the ledger's counter of
        them (one ``_id`` read) for the rules it counts, else from the ledger itself."""
        if rule in DISTINCT_TARGET_RULES:
            _id = targets_counter_id(community_id, member_id, rule)
            doc = await self._batched_counters.find_by_id(_id, {"count": 1})
            return int(doc["count"]) if doc else 0
        targets = await self._ledger.distinct(
            "target_id", {"community_id": community_id, "member_id": member_id, "rule": rule}
        )
        return len(targets)

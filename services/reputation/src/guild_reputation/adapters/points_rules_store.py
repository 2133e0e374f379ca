"""Per-community points overrides: one document per community, a sub-document per rule."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from guild_common.clock import utc_now
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_reputation.adapters.batched_writes import Coalesced
from guild_reputation.domain.rules import RuleSetting

POINTS_RULES = "points_rules"
INDEXES: list[IndexSpec] = []
SCHEMA = StoreSchema(indexes=INDEXES)


class MongoPointsRules:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._rules = db[POINTS_RULES]
        self._batched = Coalesced(self._rules)

    async def overrides(self, community_id: str) -> dict[str, RuleSetting]:
        doc = await self._batched.find_by_id(community_id)
        if doc is None:
            return {}
        return {
            name: RuleSetting(int(value["points"]), int(value.get("daily_cap", 0)))
            for name, value in doc.get("rules", {}).items()
        }

    async def set_overrides(self, community_id: str, overrides: dict[str, RuleSetting], by: str) -> None:
        fields: Document = {
            f"rules.{name}": {"points": s.points, "daily_cap": s.daily_cap} for name, s in overrides.items()
        }
        # One atomic upsert: rules of other names set meanwhile stay.
        await self._rules.update_one(
            {"_id": community_id},
            {"$set": {**fields, "update_time": utc_now(), "updated_by": by}, "$inc": {"version": 1}},
            upsert=True,
        )

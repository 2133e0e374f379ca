"""Community goals in MongoDB: one document per goal, never removed by lifecycle changes."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.events.outbox import OutboxWake, outbox_fields, outbox_indexes
from guild_common.keyset import keyset_items
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_common.pagination import Page
from guild_community.adapters.outbound_events import goal_envelope
from guild_community.domain.communities import Lifecycle
from guild_community.domain.goals import Goal, GoalMetric, GoalSet

GOALS = "goals"

SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(GOALS, [("community_id", 1), ("create_time", 1), ("_id", 1)]),
        *outbox_indexes([GOALS]),
    ],
    outbox_collections=[GOALS],
)


def _goal_doc(g: Goal) -> Document:
    return {
        "_id": g.id,
        "community_id": g.community_id,
        "metric": g.metric.value,
        "target": g.target,
        "deadline": g.deadline,
        "set_in_lifecycle": g.set_in_lifecycle.value,
        "created_by": g.created_by,
        "create_time": g.create_time,
    }


def _goal(doc: Document) -> Goal:
    return Goal(
        id=doc["_id"],
        community_id=doc["community_id"],
        metric=GoalMetric(doc["metric"]),
        target=float(doc["target"]),
        deadline=doc["deadline"],
        set_in_lifecycle=Lifecycle(doc["set_in_lifecycle"]),
        created_by=doc["created_by"],
        create_time=doc["create_time"],
    )


class MongoGoalRepository:
    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake) -> None:
        self._goals = db[GOALS]
        self._on_events = on_events

    async def add_goal(self, goal: Goal, event: GoalSet) -> Goal:
        try:
            await self._goals.insert_one({**_goal_doc(goal), **outbox_fields([goal_envelope(event)])})
        except DuplicateKeyError:
            stored = await self._goals.find_one({"_id": goal.id}, {"outbox": 0})
            if stored is not None:
                return _goal(stored)
        self._on_events(GOALS, goal.id)
        return goal

    async def list_goals(self, community_id: str, page_size: int, page_token: str) -> Page[Goal]:
        return await keyset_items(
            self._goals,
            {"community_id": community_id},
            sort_field="create_time",
            descending=False,
            page_size=page_size,
            page_token=page_token,
            projection={"outbox": 0},
            convert=_goal,
        )

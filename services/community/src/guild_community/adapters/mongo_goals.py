"""Community goals in MongoDB: one document per goal, never removed by lifecycle changes."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec
from guild_community.app.goals import GoalPage
from guild_community.domain.goals import Goal, GoalMetric
from guild_community.domain.model import Lifecycle

GOALS = "goals"

GOAL_INDEXES = [IndexSpec(GOALS, [("community_id", 1), ("create_time", 1), ("_id", 1)])]


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
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._goals = db[GOALS]

    async def add_goal(self, goal: Goal) -> Goal:
        try:
            await self._goals.insert_one(_goal_doc(goal))
        except DuplicateKeyError:
            stored = await self._goals.find_one({"_id": goal.id})
            if stored is not None:
                return _goal(stored)
        return goal

    async def list_goals(self, community_id: str, page_size: int, page_token: str) -> GoalPage:
        docs, next_token = await keyset_page(
            self._goals,
            {"community_id": community_id},
            sort_field="create_time",
            descending=False,
            page_size=page_size,
            page_token=page_token,
        )
        return GoalPage([_goal(d) for d in docs], next_token)

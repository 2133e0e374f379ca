"""A community's counters on its document: ``member_count`` and ``owner_count``, each moved by ``$inc``.

A join takes a seat before its membership is stored (``$inc`` guarded by ``{member_count: {$lte: cap -
n}}`` for a capped pilot), and gives it back if the membership existed already, so concurrent joins on
any number of replicas never pass the cap. An owner leaving (a role change, a departure) is counted
first, guarded by ``{owner_count: {$gt: 1}}``: the last owner cannot go however many such changes race.
A new owner is counted after the change. So ``owner_count`` never exceeds the owners there are, and a
crash between the two writes errs on the safe side (one owner fewer counted).

Neither counter changes the community's ``version``: updates of its settings (guarded by the version)
do not conflict with joins.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from guild_common.mongo import Document


class Seats:
    def __init__(self, communities: AsyncCollection[Document]) -> None:
        self._communities = communities

    async def take(self, community_id: str, count: int, *, cap: int = 0) -> bool:
        """Count ``count`` more members, unless that would pass ``cap`` (0: no cap)."""
        query: dict[str, Any] = {"_id": community_id}
        if cap:
            query["member_count"] = {"$lte": cap - count}
        result = await self._communities.update_one(query, {"$inc": {"member_count": count}})
        return result.modified_count == 1

    async def give_back(self, community_id: str, count: int) -> None:
        if count:
            await self._communities.update_one({"_id": community_id}, {"$inc": {"member_count": -count}})

    async def owner_leaving(self, community_id: str) -> bool:
        """Count one owner fewer; False (nothing changed) if that one is the last."""
        result = await self._communities.update_one(
            {"_id": community_id, "owner_count": {"$gt": 1}}, {"$inc": {"owner_count": -1}}
        )
        return result.modified_count == 1

    async def owner_added(self, community_id: str) -> None:
        await self._communities.update_one({"_id": community_id}, {"$inc": {"owner_count": 1}})

    async def member_count(self, community_id: str) -> int:
        """The community's member count (0 for an unknown community)."""
        doc = await self._communities.find_one({"_id": community_id}, {"member_count": 1})
        return int(doc.get("member_count", 0)) if doc else 0

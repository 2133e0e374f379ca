"""Community roles as reputation knows them: a read model fed by community events (read through to the
community service on a miss by ``community_client``)."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.mongo import Document, IndexSpec, StoreSchema

ROLES = "community_roles"
INDEXES = [IndexSpec(ROLES, [("member_id", 1), ("community_id", 1)])]
SCHEMA = StoreSchema(indexes=INDEXES)
# The role stored for someone who left: known, and not a member.
NONE = ""


def _key(community_id: str, member_id: str) -> str:
    return f"{community_id}:{member_id}"


class RoleReadModel:
    """One document per (community, member); a change applies only if newer than the one stored."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._roles = db[ROLES]

    async def put(
        self,
        community_id: str,
        member_id: str,
        role: str,
        as_of: datetime,
        *,
        region: str = "",
        programme: str = "",
    ) -> None:
        _id = _key(community_id, member_id)
        routing = {"region": region, "programme": programme} if region and programme else {}
        try:  # one conditional upsert: an older change never overwrites a newer one
            await self._roles.update_one(
                {"_id": _id, "as_of": {"$lt": as_of}},
                {
                    "$set": {
                        "community_id": community_id,
                        "member_id": member_id,
                        "role": role,
                        "as_of": as_of,
                        **routing,
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # a newer change is stored already

    async def get(self, community_id: str, member_id: str) -> str | None:
        """The stored role, ``NONE`` for a former member, or None when never heard of."""
        doc = await self._roles.find_one({"_id": _key(community_id, member_id)}, {"role": 1})
        return None if doc is None else str(doc["role"])

    async def routing(self, community_id: str, member_id: str) -> tuple[str, str]:
        """The community's region and programme as last heard with this membership."""
        doc = await self._roles.find_one(
            {"_id": _key(community_id, member_id)}, {"region": 1, "programme": 1}
        )
        if doc is None or not doc.get("region"):
            return ("unknown", "unknown")
        return (str(doc["region"]), str(doc["programme"]))

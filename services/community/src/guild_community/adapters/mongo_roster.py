"""A community's members in join order, stored in fixed-size chunks read by ``_id``.

FerretDB 1.24 on SQLite pushes down only a filter that is exactly ``{"_id": value}``; any other query
reads the whole collection. Listing the members of one community from the memberships collection
would then cost as much as all the memberships of all communities. The roster keeps each community's
members in chunk documents (``<community>:<chunk number>``, at most ``CHUNK`` entries each) and a head
document (``<community>:head``) with the tail chunk and its size, so a page of members is a few reads by
``_id`` however large the community is (and however many memberships the service holds).

Entries are only appended (``$push``) and never moved: a member who leaves is marked gone in place and a
role change sets the entry's role by its index, so positions stay valid across pages and writers.
Each membership document records its entry's position (``roster: [chunk, index]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from guild_common.doclocks import document_lock
from guild_common.mongo import Document
from guild_common.pagination import decode_token, encode_token
from guild_community.domain.model import Membership, Role

ROSTERS = "member_rosters"
#: Entries per chunk: small enough that appending (a whole-document rewrite on FerretDB) stays cheap.
CHUNK = 256
#: Most chunks one listing call reads; a page may come back short, with a token to continue.
MAX_CHUNKS_PER_PAGE = 16


def chunk_id(community_id: str, chunk: int) -> str:
    return f"{community_id}:{chunk:08d}"


def head_id(community_id: str) -> str:
    return f"{community_id}:head"


@dataclass(frozen=True)
class RosterPage:
    members: list[Membership]
    next_token: str


class Roster:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._rosters = db[ROSTERS]

    def lock(self, community_id: str) -> Any:
        """Serialises appends to one community's roster (held around the membership inserts)."""
        return document_lock(ROSTERS, head_id(community_id))

    async def positions(self, community_id: str, count: int) -> list[tuple[int, int]]:
        """The next ``count`` free positions (call under ``lock``; ``append`` must follow)."""
        head = await self._rosters.find_one({"_id": head_id(community_id)})
        chunk, size = (head["chunk"], head["size"]) if head else (0, 0)
        result: list[tuple[int, int]] = []
        for _ in range(count):
            if size >= CHUNK:
                chunk, size = chunk + 1, 0
            result.append((chunk, size))
            size += 1
        return result

    async def append(
        self, community_id: str, placed: Sequence[tuple[tuple[int, int], Membership | None, str]]
    ) -> None:
        """Write entries at the positions from ``positions`` (call under ``lock``).

        Each item is (position, membership or None, member id); None stores a gone entry, keeping the
        positions of the others (a membership that already existed takes no entry)."""
        by_chunk: dict[int, list[Document]] = {}
        for (chunk, _index), membership, member_id in placed:
            entry: Document = {"m": member_id}
            if membership is None:
                entry["x"] = True
            else:
                entry |= {"r": membership.role.value, "t": membership.join_time}
            by_chunk.setdefault(chunk, []).append(entry)
        for chunk, entries in sorted(by_chunk.items()):
            async with document_lock(ROSTERS, chunk_id(community_id, chunk)):
                await self._rosters.update_one(
                    {"_id": chunk_id(community_id, chunk)},
                    {"$push": {"entries": {"$each": entries}}, "$set": {"community_id": community_id}},
                    upsert=True,
                )
        if placed:
            last_chunk, last_index = placed[-1][0]
            await self._rosters.update_one(
                {"_id": head_id(community_id)},
                {"$set": {"chunk": last_chunk, "size": last_index + 1}},
                upsert=True,
            )

    async def mark_gone(self, community_id: str, member_id: str, position: Sequence[int]) -> None:
        await self._set_entry(community_id, member_id, position, "x", True)

    async def set_role(self, community_id: str, member_id: str, position: Sequence[int], role: Role) -> None:
        await self._set_entry(community_id, member_id, position, "r", role.value)

    async def _set_entry(
        self, community_id: str, member_id: str, position: Sequence[int], field: str, value: Any
    ) -> None:
        chunk, index = int(position[0]), int(position[1])
        key = chunk_id(community_id, chunk)
        async with document_lock(ROSTERS, key):
            doc = await self._rosters.find_one({"_id": key})
            entries = (doc or {}).get("entries", [])
            if index >= len(entries) or entries[index].get("m") != member_id:
                return  # not this member's entry (a write interrupted before its entry was stored)
            await self._rosters.update_one({"_id": key}, {"$set": {f"entries.{index}.{field}": value}})

    async def page(self, community_id: str, role: Role | None, page_size: int, page_token: str) -> RosterPage:
        position = decode_token(page_token)
        chunk = int(position.get("c", 0))
        start = int(position.get("i", -1)) + 1
        head = await self._rosters.find_one({"_id": head_id(community_id)})
        if head is None:
            return RosterPage([], "")
        tail = int(head["chunk"])
        members: list[Membership] = []
        last = (chunk, start - 1)
        read = 0
        while chunk <= tail and read < MAX_CHUNKS_PER_PAGE:
            doc = await self._rosters.find_one({"_id": chunk_id(community_id, chunk)})
            read += 1
            entries: list[Document] = (doc or {}).get("entries", [])
            for index in range(start, len(entries)):
                entry = entries[index]
                if entry.get("x") or (role is not None and entry.get("r") != role.value):
                    continue
                if len(members) == page_size:
                    return RosterPage(members, encode_token({"c": last[0], "i": last[1]}))
                members.append(_membership(community_id, entry))
                last = (chunk, index)
            chunk, start = chunk + 1, 0
        if chunk <= tail:
            # Stopped at the chunk budget with every chunk read so far used up: go on from the next one.
            return RosterPage(members, encode_token({"c": chunk, "i": -1}))
        return RosterPage(members, "")

    async def has_head(self, community_id: str) -> bool:
        return await self._rosters.find_one({"_id": head_id(community_id)}, {"_id": 1}) is not None


def _membership(community_id: str, entry: Document) -> Membership:
    join_time: datetime = entry["t"]
    return Membership(
        community_id=community_id, member_id=entry["m"], role=Role(entry["r"]), join_time=join_time
    )

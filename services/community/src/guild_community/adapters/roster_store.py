"""A community's members in join order, stored in fixed-size chunks read by ``_id``.

FerretDB 1.24 on SQLite pushes down only a filter that is exactly ``{"_id": value}``; any other query
reads the whole collection. Listing the members of one community from the memberships collection
would then cost as much as all the memberships of all communities. The roster keeps each community's
members in chunk documents (``<community>:<chunk number>``, at most ``CHUNK`` entries each) and a head
document (``<community>:head``) with the tail chunk and its size, so a page of members is a few reads by
``_id`` however large the community is (and however many memberships the service holds).

Entries are only appended and never moved: a member who leaves is marked gone in place and a role change
sets the entry's role by its index, so positions stay valid across pages and writers. Appending is one
atomic ``$push`` guarded by the chunk's entry count ``n`` (``{n: {$lte: CHUNK - k}}``), returning the
chunk after it, so the appended entries' indexes are known however many writers (tasks, replicas)
append at once; a full chunk makes the writer move the head's tail chunk on (``$max``). Each membership
records its entry's position (``roster: [chunk, index]``); an entry is changed only where it still names
that member, and a role only by a newer membership version than the entry holds.

Chunks written before the count existed have no ``n`` and count as full: appends go to a new chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.mongo import Document
from guild_common.pagination import Page, decode_token, encode_token
from guild_community.domain.membership import Membership, Role

ROSTERS = "member_rosters"
#: Entries per chunk: small enough that appending (a whole-document rewrite on FerretDB) stays cheap.
CHUNK = 256
#: Most chunks one listing call reads; a page may come back short, with a token to continue.
MAX_CHUNKS_PER_PAGE = 16


def chunk_id(community_id: str, chunk: int) -> str:
    return f"{community_id}:{chunk:08d}"


def head_id(community_id: str) -> str:
    return f"{community_id}:head"


class Roster:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._rosters = db[ROSTERS]

    async def append(self, community_id: str, memberships: Sequence[Membership]) -> list[tuple[int, int]]:
        """Append an entry for each membership, in order; returns their positions (chunk, index)."""
        head = await self._rosters.find_one({"_id": head_id(community_id)}, {"chunk": 1})
        chunk = int(head["chunk"]) if head is not None else 0
        placed: list[tuple[int, int]] = []
        todo = list(memberships)
        # One entry is tried at once (it fits unless the chunk is full); several first ask for room.
        room = 1 if len(todo) == 1 else await self._room(community_id, chunk)
        while todo:
            if room <= 0:
                chunk += 1
                await self._set_tail(community_id, chunk)
                room = CHUNK
                continue
            part, todo = todo[:room], todo[room:]
            try:
                after = await self._rosters.find_one_and_update(
                    {"_id": chunk_id(community_id, chunk), "n": {"$lte": CHUNK - len(part)}},
                    {
                        "$push": {"entries": {"$each": [_entry(m) for m in part]}},
                        "$inc": {"n": len(part)},
                        "$set": {"community_id": community_id},
                    },
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:  # not room enough for ``part`` (others appended), or created meanwhile
                todo = [*part, *todo]
                room = await self._room(community_id, chunk)
                continue
            assert after is not None  # an upsert returns the document after it
            end = int(after["n"])
            placed += [(chunk, index) for index in range(end - len(part), end)]
            room = CHUNK - end
        if head is None and placed:
            await self._set_tail(community_id, placed[-1][0])
        return placed

    async def _room(self, community_id: str, chunk: int) -> int:
        doc = await self._rosters.find_one({"_id": chunk_id(community_id, chunk)}, {"n": 1})
        if doc is None:
            return CHUNK
        return CHUNK - int(doc["n"]) if "n" in doc else 0

    async def _set_tail(self, community_id: str, chunk: int) -> None:
        for _ in range(2):  # two first upserts of one head may clash once; the loser then updates
            try:
                await self._rosters.update_one(
                    {"_id": head_id(community_id)}, {"$max": {"chunk": chunk}}, upsert=True
                )
                return
            except DuplicateKeyError:
                continue

    async def mark_gone(self, community_id: str, member_id: str, position: Sequence[int]) -> None:
        await self._set_entry(community_id, member_id, position, {"x": True})

    async def set_role(
        self, community_id: str, member_id: str, position: Sequence[int], role: Role, version: int
    ) -> None:
        """Set the entry's role to that of membership ``version``, unless a newer one is set already."""
        chunk, index = int(position[0]), int(position[1])
        stamp = f"entries.{index}.v"
        await self._rosters.update_one(
            {
                "_id": chunk_id(community_id, chunk),
                f"entries.{index}.m": member_id,
                "$or": [{stamp: {"$lt": version}}, {stamp: {"$exists": False}}],
            },
            {"$set": {f"entries.{index}.r": role.value, stamp: version}},
        )

    async def _set_entry(
        self, community_id: str, member_id: str, position: Sequence[int], fields: Document
    ) -> None:
        """Change the entry at ``position`` only if it is this member's (a write interrupted before
        its entry was stored leaves another member's entry, or none, there)."""
        chunk, index = int(position[0]), int(position[1])
        await self._rosters.update_one(
            {"_id": chunk_id(community_id, chunk), f"entries.{index}.m": member_id},
            {"$set": {f"entries.{index}.{name}": value for name, value in fields.items()}},
        )

    async def page(
        self, community_id: str, role: Role | None, page_size: int, page_token: str
    ) -> Page[Membership]:
        position = decode_token(page_token)
        chunk = int(position.get("c", 0))
        start = int(position.get("i", -1)) + 1
        head = await self._rosters.find_one({"_id": head_id(community_id)})
        if head is None:
            return Page([], "")
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
                    return Page(members, encode_token({"c": last[0], "i": last[1]}))
                members.append(_membership(community_id, entry))
                last = (chunk, index)
            chunk, start = chunk + 1, 0
        if chunk <= tail:
            # Stopped at the chunk budget with every chunk read so far used up: go on from the next one.
            return Page(members, encode_token({"c": chunk, "i": -1}))
        return Page(members, "")

    async def has_head(self, community_id: str) -> bool:
        return await self._rosters.find_one({"_id": head_id(community_id)}, {"_id": 1}) is not None


def _entry(membership: Membership) -> Document:
    return {"m": membership.member_id, "r": membership.role.value, "t": membership.join_time}


def _membership(community_id: str, entry: Document) -> Membership:
    join_time: datetime = entry["t"]
    return Membership(
        community_id=community_id, member_id=entry["m"], role=Role(entry["r"]), join_time=join_time
    )

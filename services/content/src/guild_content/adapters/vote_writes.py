"""A member's vote on a post: one document ``<target>:<voter>``, changed by one atomic write.

The write returns the vote as it was before it, so each change knows exactly what it replaced even when
the same voter votes from several places at once: the changes form one chain (0 -> 1 -> -1 -> 0 ...),
and the post's score moves by each link's difference, so the score is the sum of the votes.
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from guild_common.errors import Aborted
from guild_common.mongo import Document

_ATTEMPTS = 8


def vote_id(target_id: str, voter_id: str) -> str:
    return f"{target_id}:{voter_id}"


async def swap_vote(
    votes: AsyncCollection[Document], target_id: str, voter_id: str, value: int, now: datetime
) -> int:
    """Make the voter's vote ``value`` (0 removes it); returns the value it replaced (0: none).

    Voting as one already voted writes nothing and returns ``value``.
    """
    key = vote_id(target_id, voter_id)
    if value == 0:
        # FerretDB 1.24 has no projection on findAndModify: these return the whole (small) vote.
        removed = await votes.find_one_and_delete({"_id": key})
        return int(removed["value"]) if removed else 0
    fields = {"target_id": target_id, "voter_id": voter_id, "value": value, "vote_time": now}
    for _ in range(_ATTEMPTS):
        try:
            before = await votes.find_one_and_update(
                {"_id": key, "value": {"$ne": value}},
                {"$set": fields},
                upsert=True,
                return_document=ReturnDocument.BEFORE,
            )
        except DuplicateKeyError:
            # The vote exists and the filter did not match it: it is ``value`` already, unless it was
            # removed or changed in between, which the next attempt sees.
            current = await votes.find_one({"_id": key}, {"value": 1})
            if current is not None and int(current["value"]) == value:
                return value
            continue
        return int(before["value"]) if before else 0
    raise Aborted("the vote changed concurrently; retry", reason="CONCURRENT_UPDATE")

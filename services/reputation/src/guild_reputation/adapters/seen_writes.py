"""Counting once per id in a counter document, for as long as a redelivery can come.

A counter keeps the ids it was applied in ``seen``, in two slots by the hour of writing (``seen.a``
for even hours, ``seen.b`` for odd ones; ``seen.ha``/``seen.hb`` the hour each holds). An increment is
sent with ``unseen(id)`` in its filter and ``push`` in its update, preceded by ``clear`` (in the same
ordered ``bulk_write``), which empties this hour's slot when it still holds an older hour's ids: so a
replay within an hour of the first application matches nothing, the slots stay as small as an hour or
two of writes, and none of the updates can fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from guild_common.mongo import Document

SEEN = "seen"
# Kept by earlier versions of the ledger's counters: their latest ids (still honoured, not written).
LEGACY_APPLIED = "applied"


def slot(now: datetime) -> tuple[str, int]:
    """The slot of the hour of ``now`` and that hour's number."""
    hour = int(now.timestamp()) // 3600
    return ("a" if hour % 2 == 0 else "b"), hour


def hour_field(now: datetime) -> str:
    return f"{SEEN}.h{slot(now)[0]}"


def unseen(_id: str) -> Document:
    """Matches a counter that was not applied ``_id``."""
    return {f"{SEEN}.a": {"$ne": _id}, f"{SEEN}.b": {"$ne": _id}, LEGACY_APPLIED: {"$ne": _id}}


def none_of(ids: list[str]) -> Document:
    """Matches a counter that was applied none of ``ids``."""
    return {f"{SEEN}.a": {"$nin": ids}, f"{SEEN}.b": {"$nin": ids}, LEGACY_APPLIED: {"$nin": ids}}


def push(_id: str, now: datetime) -> Document:
    """Update operators recording ``_id`` in this hour's slot (merge with the increment's)."""
    name, hour = slot(now)
    return {"$set": {f"{SEEN}.h{name}": hour}, "$push": {f"{SEEN}.{name}": _id}}


def clear(counter_id: str, now: datetime, held_hour: Any = None) -> tuple[Document, Document]:
    """Filter and update emptying the counter's slot of this hour if it holds an older hour's ids
    (``held_hour``: the one it was read holding)."""
    name, hour = slot(now)
    current: Any = {"$exists": True, "$ne": hour} if held_hour is None else held_hour
    return {"_id": counter_id, f"{SEEN}.h{name}": current}, {
        "$set": {f"{SEEN}.{name}": [], f"{SEEN}.h{name}": hour}
    }


def holds(doc: Mapping[str, Any] | None, _id: str) -> bool:
    """Whether the counter was applied ``_id`` (within the time it keeps ids)."""
    if not doc:
        return False
    seen = doc.get(SEEN, {})
    return _id in seen.get("a", []) or _id in seen.get("b", []) or _id in doc.get(LEGACY_APPLIED, [])

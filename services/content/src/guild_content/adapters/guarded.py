"""Counter changes whose events carry the new counts, each one atomic single-document write.

A counter that only moves is one ``$inc``. When the change's event must say what the count became
(``vote_changed.score``, ``post_flagged.flag_count``, ...) and travel in the same write (the outbox), the
new value has to be known before writing: :func:`update_counted` reads the fields, builds the update and
its events from them, and writes it guarded by the values it read (``{_id, score: 4}``). If another writer
(task or replica) moved them in between, the guard matches nothing and the update is built again from
the new values. Only the guarded fields conflict: an outbox clear, an edit or a moderation change of the
same document does not make a counter change retry, and vice versa.

This is :func:`guild_common.atomic.update_guarded` with the named fields as the guard instead of a
document-wide ``version``; it lives here because content's posts keep ``version`` for edits only.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from guild_common.errors import Aborted
from guild_common.mongo import Document

# Each round of a contended counter lets one writer through, so even hundreds of writers at once on one
# document get through well within this; the backoff keeps retries from spinning.
ATTEMPTS = 500
_BACKOFF_MAX_S = 0.02

Values = dict[str, Any]


def value_at(doc: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of ``doc``; None when absent."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def guard(doc_id: Any, values: Mapping[str, Any]) -> Document:
    """The filter matching the document only while each field still has ``values[field]`` (None: absent)."""
    found: Document = {"_id": doc_id}
    for path, value in values.items():
        found[path] = {"$exists": False} if value is None else value
    return found


async def update_counted(
    collection: AsyncCollection[Document],
    doc_id: Any,
    fields: Sequence[str],
    build: Callable[[Values], Mapping[str, Any]],
    *,
    known: Mapping[str, Any] | None = None,
    attempts: int = ATTEMPTS,
) -> Document | None:
    """Apply ``build(values of fields)`` to ``doc_id`` while those fields are unchanged; the document after.

    ``known`` are values the caller already read (saves the first read; a stale guess costs one retry).
    Returns the whole document after the write, None when there is no document. ``build`` may run more
    than once and must not have side effects.
    """
    projection = dict.fromkeys(fields, 1)
    current: Values | None = {f: known.get(f) for f in fields} if known is not None else None
    for attempt in range(attempts):
        if current is None:
            doc = await collection.find_one({"_id": doc_id}, projection)
            if doc is None:
                return None
            current = {f: value_at(doc, f) for f in fields}
        # FerretDB 1.24 has no projection on findAndModify: the whole document comes back.
        after = await collection.find_one_and_update(
            guard(doc_id, current), dict(build(current)), return_document=ReturnDocument.AFTER
        )
        if after is not None:
            return after
        current = None
        if attempt:  # the first conflict re-reads at once; later ones back off a little, at random
            await asyncio.sleep(random.uniform(0, min(_BACKOFF_MAX_S, 0.001 * 2**attempt)))
    raise Aborted(
        f"counters of {str(doc_id)[:64]} changed on each of {attempts} attempts", reason="CONCURRENT_UPDATE"
    )


def as_int(value: Any) -> int:
    return int(value or 0)

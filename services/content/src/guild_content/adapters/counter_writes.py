"""Counter changes whose events carry the new counts, each one atomic single-document write.

A counter that only moves is one ``$inc``. When the change's event must say what the count became
(``vote_changed.score``, ``post_flagged.flag_count``, ...) and travel in the same write (the outbox), the
new value has to be known before writing: the counters are read, the change and its events are built
from them, and the write is guarded by the values read (``{_id, score: 4}``). If another writer (task or
replica) moved them in between, the guard matches nothing and the change is built again from the new
values. Only the guarded fields conflict: an outbox clear, an edit or a moderation change of the same
document does not make a counter change retry, and vice versa.

This is :func:`guild_common.atomic.update_guarded` with the named fields as the guard instead of a
document-wide ``version``; it lives here because content's posts keep ``version`` for edits only.

:class:`CounterWriter` also gathers the changes of one document that arrive in this process while a write
of it is in flight and writes them together, in arrival order, each with the counts it made: many voters
on one post cost one guarded write per batch instead of a retry storm. That is for throughput only; the
guard alone keeps the counts exact, across replicas as within one.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from guild_common.errors import Aborted
from guild_common.events.envelope import Envelope
from guild_common.events.outbox import merge_updates, outbox_update
from guild_common.mongo import Document

# Each round of a contended document lets one writer through, so even many replicas writing one document
# at once get through well within this; the backoff keeps retries from spinning.
ATTEMPTS = 200
_BACKOFF_MAX_S = 0.02

Values = dict[str, Any]


@dataclass
class Change:
    """What one change does to a document: counters moved, fields set, events queued."""

    inc: dict[str, int] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)
    events: list[Envelope] = field(default_factory=list)


# Builds a change from the current values of the guarded fields; may run more than once: no side effects.
Step = Callable[[Values], Change]


@dataclass(frozen=True)
class Counted:
    """The outcome of one change: the guarded values it produced, and the document after the write."""

    values: Values
    document: Document


def value_at(doc: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of ``doc``; None when absent."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def as_int(value: Any) -> int:
    return int(value or 0)


def guard(doc_id: Any, values: Mapping[str, Any]) -> Document:
    """The filter matching the document only while each field still has ``values[field]`` (None: absent)."""
    found: Document = {"_id": doc_id}
    for path, value in values.items():
        found[path] = {"$exists": False} if value is None else value
    return found


def _fold(current: Values, steps: Sequence[Step]) -> tuple[list[Values], Document]:
    """Apply ``steps`` in order from ``current``: each one's resulting values, and the merged update."""
    values = dict(current)
    produced: list[Values] = []
    inc: dict[str, int] = {}
    fields: dict[str, Any] = {}
    events: list[Envelope] = []
    for step in steps:
        change = step(dict(values))
        for path, delta in change.inc.items():
            values[path] = as_int(values.get(path)) + delta
            inc[path] = inc.get(path, 0) + delta
        values |= change.set
        fields |= change.set
        events += change.events
        produced.append(dict(values))
    update: Document = {}
    if inc:
        update["$inc"] = inc
    if fields:
        update["$set"] = fields
    if events:
        update = merge_updates(update, outbox_update(events))
    return produced, update


async def write_counted(
    collection: AsyncCollection[Document],
    doc_id: Any,
    fields: Sequence[str],
    steps: Sequence[Step],
    *,
    known: Mapping[str, Any] | None = None,
    attempts: int = ATTEMPTS,
) -> list[Counted] | None:
    """Apply ``steps`` in order to ``doc_id`` in one write, guarded by the values of ``fields`` they were
    built from; rebuilt from fresh values on conflict. One outcome per step; None without a document.

    ``known`` are values the caller already read (saves the first read; a stale guess costs one retry).
    """
    projection = dict.fromkeys(fields, 1)
    current: Values | None = {f: known.get(f) for f in fields} if known is not None else None
    for attempt in range(attempts):
        if current is None:
            doc = await collection.find_one({"_id": doc_id}, projection)
            if doc is None:
                return None
            current = {f: value_at(doc, f) for f in fields}
        produced, update = _fold(current, steps)
        if not update:
            return [Counted(v, {"_id": doc_id, **current}) for v in produced]
        # FerretDB 1.24 has no projection on findAndModify: the whole document comes back.
        after = await collection.find_one_and_update(
            guard(doc_id, current), update, return_document=ReturnDocument.AFTER
        )
        if after is not None:
            return [Counted(v, after) for v in produced]
        current = None
        if attempt:  # the first conflict re-reads at once; later ones back off a little, at random
            await asyncio.sleep(random.uniform(0, min(_BACKOFF_MAX_S, 0.001 * 2**attempt)))
    raise Aborted(f"{str(doc_id)[:64]} changed on each of {attempts} attempts", reason="CONCURRENT_UPDATE")


@dataclass
class _Pending:
    step: Step
    known: Mapping[str, Any] | None
    done: asyncio.Future[Counted | None]


class CounterWriter:
    """Writes counter changes with :func:`write_counted`, batching those of one document in this process."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[str, Any], list[_Pending]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def change(
        self,
        collection: AsyncCollection[Document],
        doc_id: Any,
        fields: Sequence[str],
        step: Step,
        *,
        known: Mapping[str, Any] | None = None,
    ) -> Counted | None:
        """Apply ``step`` to ``doc_id``; its outcome, None when there is no such document.

        Every change of one collection names the same ``fields`` (those of the batch's first are guarded).
        """
        key = (collection.name, doc_id)
        done: asyncio.Future[Counted | None] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(key)
        if waiting is not None:  # a write of this document is in flight: join the next one
            waiting.append(_Pending(step, known, done))
        else:
            self._waiting[key] = [_Pending(step, known, done)]
            task = asyncio.create_task(self._drain(key, collection, fields))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await done

    async def _drain(
        self, key: tuple[str, Any], collection: AsyncCollection[Document], fields: Sequence[str]
    ) -> None:
        """Write the waiting changes of one document, batch after batch, until none are left.

        Each batch first guesses the values the previous batch wrote (then what its first caller knew).
        """
        last: Mapping[str, Any] | None = None
        try:
            while batch := self._waiting.get(key):
                self._waiting[key] = []
                try:
                    outcomes = await write_counted(
                        collection, key[1], fields, [p.step for p in batch], known=last or batch[0].known
                    )
                except BaseException as error:
                    last = None
                    for p in batch:
                        if not p.done.done():
                            p.done.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                last = outcomes[-1].values if outcomes else None
                for i, p in enumerate(batch):
                    if not p.done.done():
                        p.done.set_result(outcomes[i] if outcomes is not None else None)
        finally:
            left = self._waiting.pop(key, [])
            for p in left:  # only when cancelled: nobody is left to write them
                if not p.done.done():
                    p.done.set_exception(Aborted("the write was cancelled; retry", reason="CANCELLED"))

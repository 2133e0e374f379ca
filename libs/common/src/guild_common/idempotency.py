"""Idempotency keys: a ``request_id`` is bound to the request it first came with.

A create that carries a ``request_id`` may be retried: the retry returns what the first request made. The
key is the caller, the RPC and the ``request_id``; its record holds a fingerprint of the first request (the
caller, the RPC and every field of the request message, serialized deterministically). The record is written
before the request is handled, with one insert on the key's ``_id``, so every replica sees the first binding:

* the same request again (a retry) goes on to the handler, whose create is idempotent by the derived id and
  returns the original result;
* a different request under a key already bound is refused with ``INVALID_ARGUMENT``, a field violation
  on ``request_id`` and reason ``REQUEST_ID_REUSED``: nothing is written and nothing of the first request's
  result is returned.

A request refused with an error (invalid, not permitted, a dependency down) makes nothing, so it leaves its
key free: a corrected request may use the same ``request_id``. Records of requests that succeeded are kept as
long as the things they created (no expiry), so such a key stays bound for good.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.clock import utc_now
from guild_common.errors import FieldViolation, InvalidArgument
from guild_common.mongo import Document

COLLECTION = "idempotency_keys"
FIELD = "request_id"
REUSED = "REQUEST_ID_REUSED"
_ATTEMPTS = 3


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def key_id(caller: str, rpc: str, request_id: str) -> str:
    """The record's ``_id``: one per caller, RPC and ``request_id``."""
    return _digest(caller.encode(), rpc.encode(), request_id.encode())


def request_fingerprint(caller: str, rpc: str, request: Message) -> str:
    """A digest of who asked, which RPC, and every field of the request as sent."""
    return _digest(caller.encode(), rpc.encode(), request.SerializeToString(deterministic=True))


def request_id_of(request: object) -> str:
    """The request's top-level string ``request_id``, or ``""`` when it has none (or none set)."""
    if not isinstance(request, Message):
        return ""
    field = request.DESCRIPTOR.fields_by_name.get(FIELD)
    if field is None or field.type != FieldDescriptor.TYPE_STRING:
        return ""
    value = getattr(request, FIELD)
    return value if isinstance(value, str) else ""


def reused() -> InvalidArgument:
    return InvalidArgument(
        "request_id was already used for a different request",
        reason=REUSED,
        violations=[FieldViolation(FIELD, "already used for a different request; use a new request_id")],
    )


class Binding:
    """A request bound to its key while it is handled."""

    def __init__(self, keys: AsyncCollection[Document], record: Document, *, inserted: bool) -> None:
        self._keys = keys
        self._record = record
        self._inserted = inserted

    async def release(self) -> None:
        """The request was refused (nothing made): a later request may use the key afresh. Only the request
        that wrote the record removes it, and only while it still holds this fingerprint."""
        if self._inserted:
            await self._keys.delete_one(
                {"_id": self._record["_id"], "fingerprint": self._record["fingerprint"]}
            )

    async def confirm(self) -> None:
        """The request succeeded: keep the key bound (a retry that ran beside a refused first attempt writes
        the record again if that attempt removed it)."""
        if not self._inserted:
            await self._keys.update_one(
                {"_id": self._record["_id"]},
                {"$setOnInsert": {k: v for k, v in self._record.items() if k != "_id"}},
                upsert=True,
            )


class IdempotencyKeys:
    """Binds each ``request_id`` to its first request, in the service's own database."""

    def __init__(self, db: AsyncDatabase[Document], *, clock: Callable[[], datetime] = utc_now) -> None:
        self._keys: AsyncCollection[Document] = db[COLLECTION]
        self._clock = clock

    async def bind(self, caller: str, rpc: str, request: object) -> Binding | None:
        """Record the request under its key, or check it is the request the key was first used for.

        Requests without a ``request_id`` pass unchecked (``None``). Raises :class:`InvalidArgument`
        (``REQUEST_ID_REUSED``) when the key is bound to a different request."""
        request_id = request_id_of(request)
        if not request_id:
            return None
        assert isinstance(request, Message)
        fingerprint = request_fingerprint(caller, rpc, request)
        record = {
            "_id": key_id(caller, rpc, request_id),
            "fingerprint": fingerprint,
            "rpc": rpc,
            "create_time": self._clock(),
        }
        for _ in range(_ATTEMPTS):
            try:
                await self._keys.insert_one(record)
                return Binding(self._keys, record, inserted=True)
            except DuplicateKeyError:
                stored = await self._keys.find_one({"_id": record["_id"]}, {"fingerprint": 1})
            if stored is None:
                continue  # released in between: bind it afresh
            if stored.get("fingerprint") != fingerprint:
                raise reused()
            return Binding(self._keys, record, inserted=False)
        raise reused()

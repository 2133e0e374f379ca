"""The MongoDB client and index bootstrap.

Everything stays inside the feature subset that MongoDB 6+ and FerretDB 1.24 share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]


@dataclass(frozen=True)
class IndexSpec:
    """An index a collection needs; ``keys`` as ``[(field, 1 | -1), ...]``."""

    collection: str
    keys: Sequence[tuple[str, int]]
    unique: bool = False
    name: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    def model(self) -> IndexModel:
        name = self.name or "_".join(f"{k}_{d}" for k, d in self.keys)
        return IndexModel(list(self.keys), name=name, unique=self.unique, **dict(self.options))


# Seconds to find a reachable server or open a connection before an operation fails.
DEFAULT_TIMEOUT_SECONDS = 1.0


def create_client(
    uri: str,
    *,
    app_name: str,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    tls_options: Mapping[str, Any] | None = None,
) -> AsyncMongoClient[Document]:
    """One client per process. Short server selection, so a call made while the database is down fails
    as UNAVAILABLE within ``timeout_seconds``, inside callers' deadlines, instead of hanging.
    ``tls_options`` are PyMongo's (``guild_common.tls.mongo_tls_options``)."""
    timeout_ms = max(1, round(timeout_seconds * 1000))
    return AsyncMongoClient(
        uri,
        appname=app_name,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        tz_aware=True,
        **dict(tls_options or {}),
    )


async def ensure_indexes(db: AsyncDatabase[Document], specs: Sequence[IndexSpec]) -> None:
    """Create every index the service queries by; existing identical indexes are left alone.

    One ``createIndexes`` command per index: FerretDB 1.24 fails a multi-index command when several of
    its indexes exist already, which is the normal case on every restart.
    """
    for spec in specs:
        await db[spec.collection].create_indexes([spec.model()])


async def ping(client: AsyncMongoClient[Document]) -> bool:
    try:
        await client.admin.command("ping")
    except Exception:
        return False
    return True

"""The MongoDB client and index bootstrap.

Everything stays inside the feature subset that MongoDB 6+ and FerretDB 1.24 share.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
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


@dataclass(frozen=True)
class StoreSchema:
    """What one store module needs of the database, declared beside the code that queries it.

    ``indexes`` are created at start-up; ``outbox_collections`` are the collections whose documents
    carry events (``guild_common.events.outbox``), which the relay sweeps. A module declares it as
    ``SCHEMA = StoreSchema(...)``; the composition root collects every module's with :func:`collect_schema`,
    so a new store is swept and indexed without a second list to keep in step."""

    indexes: Sequence[IndexSpec] = ()
    outbox_collections: Sequence[str] = ()

    def __add__(self, other: StoreSchema) -> StoreSchema:
        return StoreSchema(
            indexes=[*self.indexes, *other.indexes],
            outbox_collections=list(dict.fromkeys([*self.outbox_collections, *other.outbox_collections])),
        )


def collect_schema(*packages: ModuleType, extra: Iterable[StoreSchema] = ()) -> StoreSchema:
    """The union of the ``SCHEMA`` of every module in ``packages`` (searched recursively) and ``extra``."""
    total = StoreSchema()
    for package in packages:
        modules = [package]
        if hasattr(package, "__path__"):
            modules += [
                importlib.import_module(info.name)
                for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
            ]
        for module in modules:
            schema = getattr(module, "SCHEMA", None)
            if isinstance(schema, StoreSchema):
                total += schema
    for schema in extra:
        total += schema
    return total


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

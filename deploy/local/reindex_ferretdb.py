"""Rebuild every secondary index of a local FerretDB so that it serves queries.

Indexes created by a FerretDB build without the index pushdown patch keep working for writes but serve
no reads. This drops and creates again, with the same name, keys and options, every index but ``_id_``
of every collection of every database. Run by ``deploy/local/infra-up.sh`` once per data folder (it
leaves a stamp there); safe to run again.

Usage: .venv/bin/python deploy/local/reindex_ferretdb.py MONGODB_URI
"""

from __future__ import annotations

import sys
from typing import Any

from pymongo import MongoClient

SYSTEM_DATABASES = {"admin", "config", "local"}
# What ``index_information`` reports that ``create_index`` does not take back.
NOT_OPTIONS = {"key", "v", "ns"}


def reindex(uri: str) -> int:
    """Rebuild the indexes; returns how many were rebuilt."""
    rebuilt = 0
    with MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        for db_name in client.list_database_names():
            if db_name in SYSTEM_DATABASES:
                continue
            db = client[db_name]
            for coll_name in db.list_collection_names():
                coll = db[coll_name]
                for name, info in coll.index_information().items():
                    if name == "_id_":
                        continue
                    options: dict[str, Any] = {k: v for k, v in info.items() if k not in NOT_OPTIONS}
                    coll.drop_index(name)
                    coll.create_index(list(info["key"]), name=name, **options)
                    rebuilt += 1
    return rebuilt


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"rebuilt {reindex(sys.argv[1])} indexes", flush=True)


if __name__ == "__main__":
    main()

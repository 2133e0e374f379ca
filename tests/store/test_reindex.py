"""deploy/local/reindex_ferretdb.py rebuilds every index as it was, and the rebuilt ones serve reads."""

from __future__ import annotations

import runpy
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection

from guild_testing.servers import FerretServer

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[2]
reindex = runpy.run_path(str(ROOT / "deploy" / "local" / "reindex_ferretdb.py"))["reindex"]


@pytest.fixture(scope="module")
def server() -> Iterator[FerretServer]:
    with tempfile.TemporaryDirectory(prefix="guild-reindex-") as tmp:
        ferret = FerretServer(data_dir=Path(tmp) / "data", log_dir=Path(tmp) / "logs")
        ferret.start()
        try:
            yield ferret
        finally:
            ferret.stop()


def test_indexes_come_back_the_same_and_serve_reads(server: FerretServer) -> None:
    client: MongoClient[dict[str, Any]]
    with MongoClient(server.uri) as client:
        posts: Collection[dict[str, Any]] = client["app"]["posts"]
        posts.insert_many(
            [
                {"_id": i, "c": f"c{i % 5}", "t": i, "slug": f"s{i}", "tags": ["a", f"t{i % 3}"]}
                for i in range(200)
            ]
        )
        posts.create_index([("c", ASCENDING), ("t", DESCENDING)], name="feed")
        posts.create_index("slug", unique=True)
        posts.create_index("tags")
        client["other"]["things"].create_index("n")
        before: dict[str, Any] = {
            name: (info["key"], info.get("unique", False)) for name, info in posts.index_information().items()
        }

        assert reindex(server.uri) == 4

        after = {
            name: (info["key"], info.get("unique", False)) for name, info in posts.index_information().items()
        }
        assert after == before
        assert "n_1" in client["other"]["things"].index_information()
        plan = client["app"].command(
            "explain", {"find": "posts", "filter": {"c": "c1"}, "sort": {"t": -1}, "limit": 5}
        )
        assert "INDEX" in str(plan["queryPlanner"])
        assert [d["t"] for d in posts.find({"c": "c1"}).sort("t", -1).limit(3)] == [196, 191, 186]
        with pytest.raises(Exception, match="duplicate key"):
            posts.insert_one({"_id": 1000, "slug": "s1"})

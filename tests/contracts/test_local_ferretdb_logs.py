"""The local FerretDB that `make up` starts logs what needs attention, not every error reply."""

from __future__ import annotations

import re
from pathlib import Path

import pymongo
import pytest
from pymongo.errors import DuplicateKeyError

from guild_testing.servers import FerretServer

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[2]


def _make_up_log_level() -> str:
    script = (ROOT / "deploy" / "local" / "infra-up.sh").read_text()
    match = re.search(r'-log-level "\$\{GUILD_FERRETDB_LOG_LEVEL:-(\w+)\}"', script)
    assert match, "infra-up.sh passes no -log-level to FerretDB"
    return match.group(1)


def test_sessions_and_duplicate_keys_do_not_flood_the_log(tmp_path: Path) -> None:
    server = FerretServer(
        data_dir=tmp_path / "data", log_dir=tmp_path / "logs", extra_args=["-log-level", _make_up_log_level()]
    )
    server.start()
    try:
        for _ in range(3):
            client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
                server.uri, serverSelectionTimeoutMS=5000
            )
            collection = client["logs_test"]["things"]
            collection.replace_one({"_id": "a"}, {"_id": "a"}, upsert=True)
            with pytest.raises(DuplicateKeyError):
                collection.insert_one({"_id": "a"})
            client.close()  # sends endSessions
    finally:
        server.stop()
    log = (tmp_path / "logs" / "ferretdb.log").read_text(errors="replace")
    assert "endSessions" not in log
    assert "E11000" not in log
    assert len(log.splitlines()) < 5, log[:2000]

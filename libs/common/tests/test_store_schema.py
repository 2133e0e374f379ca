"""Stores declare their indexes and outbox collections; the composition root collects them all."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from guild_common.events.outbox import OutboxRelay
from guild_common.mongo import IndexSpec, StoreSchema, collect_schema
from guild_common.pagination import Page


@pytest.fixture
def store_package(tmp_path: Path) -> Iterator[str]:
    package = tmp_path / "demo_stores"
    (package / "nested").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nested" / "__init__.py").write_text("")
    (package / "posts.py").write_text(
        "from guild_common.mongo import IndexSpec, StoreSchema\n"
        "SCHEMA = StoreSchema(indexes=[IndexSpec('posts', [('at', 1)])], outbox_collections=['posts'])\n"
    )
    (package / "nested" / "votes.py").write_text(
        "from guild_common.mongo import IndexSpec, StoreSchema\n"
        "SCHEMA = StoreSchema(\n"
        "    indexes=[IndexSpec('votes', [('post', 1)])], outbox_collections=['votes', 'posts']\n"
        ")\n"
    )
    (package / "helpers.py").write_text("SCHEMA = 'not a schema'\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield "demo_stores"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("demo_stores")]:
            del sys.modules[name]


def test_every_module_s_schema_is_collected_once(store_package: str) -> None:
    import importlib

    package = importlib.import_module(store_package)
    extra = StoreSchema(indexes=[IndexSpec("processed_events", [("at", 1)])])
    schema = collect_schema(package, extra=[extra])
    assert sorted(spec.collection for spec in schema.indexes) == ["posts", "processed_events", "votes"]
    assert sorted(schema.outbox_collections) == ["posts", "votes"]


def test_the_relay_refuses_to_be_woken_for_a_collection_it_does_not_sweep() -> None:
    relay = OutboxRelay(None, ["posts"], None)  # type: ignore[arg-type]
    relay.wake("posts", "p1")
    with pytest.raises(ValueError, match="does not sweep 'votes'"):
        relay.wake("votes", "v1")


def test_a_page_holds_its_items_and_the_next_token() -> None:
    page: Page[int] = Page([1, 2], "t")
    assert (list(page.items), page.next_token) == ([1, 2], "t")
    assert Page[str]([]).next_token == ""

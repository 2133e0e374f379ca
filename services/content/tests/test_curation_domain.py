"""Collection rules without storage: positions, reordering, limits and publication."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guild_common.errors import FailedPrecondition, InvalidArgument, NotFound
from guild_content.domain.curation import ITEMS_MAX, Collection, CollectionItem, CollectionPublished

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _collection() -> Collection:
    return Collection.create(
        id="c1", community_id="k", curator_id="cur", title=" Week one ", description="", now=NOW
    )


def _link(n: int) -> CollectionItem:
    return CollectionItem.new(
        id=f"i{n}", post_id="", url=f"https://example.com/{n}", title=f"Page {n}", note="", now=NOW
    )


def test_items_keep_dense_positions_through_inserts_removals_and_reorders() -> None:
    c = _collection()
    assert c.title == "Week one"
    for n in range(3):
        c.add(_link(n), None, NOW)
    c.add(_link(3), 1, NOW)
    c.add(_link(4), 99, NOW)
    assert [(i.id, i.position) for i in c.items] == [("i0", 0), ("i3", 1), ("i1", 2), ("i2", 3), ("i4", 4)]
    c.remove("i3", NOW)
    c.reorder(["i4", "i2", "i1", "i0"], NOW)
    assert [(i.id, i.position) for i in c.items] == [("i4", 0), ("i2", 1), ("i1", 2), ("i0", 3)]
    # Adding an item again (a retry) changes nothing.
    assert c.add(_link(4), 0, NOW).position == 0
    assert len(c.items) == 4
    with pytest.raises(InvalidArgument):
        c.reorder(["i4", "i2", "i1"], NOW)
    with pytest.raises(InvalidArgument):
        c.reorder(["i4", "i2", "i1", "i1"], NOW)
    with pytest.raises(NotFound):
        c.remove("i9", NOW)


def test_limits_and_publication() -> None:
    c = _collection()
    with pytest.raises(FailedPrecondition):
        c.publish(NOW)
    for n in range(ITEMS_MAX):
        c.add(_link(n), None, NOW)
    with pytest.raises(FailedPrecondition):
        c.add(_link(ITEMS_MAX), None, NOW)
    assert c.publish(NOW) is True
    assert c.publish(NOW) is False
    assert [type(e) for e in c.events] == [CollectionPublished]
    with pytest.raises(InvalidArgument) as caught:
        CollectionItem.new(id="x", post_id="p", url="https://example.com", title="", note="", now=NOW)
    assert "post_id" in [v.field for v in caught.value.violations]

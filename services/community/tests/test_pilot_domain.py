"""A pilot's control as a request names it, its people page by page, and its changes from two replicas."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient

from guild.events.v1 import community_events_pb2 as events
from guild_common.errors import InvalidArgument, Validator
from guild_common.events.envelope import Envelope
from guild_common.mongo import Document
from guild_community.adapters.pilot_store import PILOT_CONTROLS, MongoPilotControls
from guild_community.app.pilot import member_page
from guild_community.domain.pilot import MAX_CONTROL_MEMBERS, PilotControl
from guild_testing.fixtures import Infra, database_name

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _named(control_community_id: str = "", ids: list[str] | None = None) -> tuple[PilotControl, Validator]:
    check = Validator()
    control = PilotControl.named(
        community_id="pilot",
        control_community_id=control_community_id,
        control_member_ids=ids or [],
        set_by="olivia",
        now=NOW,
        check=check,
    )
    return control, check


def test_people_are_sorted_without_duplicates_and_the_limits_hold() -> None:
    control, check = _named(ids=["bob", "ann", "eve", "dan", "bob", "cat"])
    check.check()
    assert control.control_member_ids == ("ann", "bob", "cat", "dan", "eve")
    assert control.is_set
    cleared, check = _named()
    check.check()
    assert not cleared.is_set
    for community, ids, field in (
        ("pilot", [], "control_community_id"),
        ("other", ["ann", "bob", "cat", "dan", "eve"], "control_member_ids"),
        ("", [f"p{i}" for i in range(MAX_CONTROL_MEMBERS + 1)], "control_member_ids"),
        ("", ["x" * 129, "bob", "cat", "dan", "eve"], "control_member_ids"),
        ("", [f"{i:05d}" + "x" * 95 for i in range(MAX_CONTROL_MEMBERS)], "control_member_ids"),
        ("", [" ann", "bob", "cat", "dan", "eve"], "control_member_ids"),
        # Fewer than five different people: a list this small would show their own activity.
        ("", ["ann", "bob", "cat", "dan", "dan"], "control_member_ids"),
    ):
        _, check = _named(community, ids)
        with pytest.raises(InvalidArgument):
            check.check()
        assert [v.field for v in check.violations] == [field]


def test_pages_of_people_follow_the_token() -> None:
    ids = [f"p{i:03d}" for i in range(25)]
    first, token = member_page(ids, 10, "")
    second, token2 = member_page(ids, 10, token)
    third, token3 = member_page(ids, 10, token2)
    assert first + second + third == ids
    assert token3 == ""
    assert member_page(ids[:10], 10, "") == (ids[:10], "")


async def test_two_replicas_changing_a_control_at_once_number_every_change(
    infra: Infra, request: pytest.FixtureRequest
) -> None:
    clients: list[AsyncMongoClient[Document]] = [
        AsyncMongoClient(infra.mongo_uri, tz_aware=True) for _ in range(2)
    ]
    name = database_name(request.node.name)
    await clients[0].drop_database(name)
    try:
        stores = [MongoPilotControls(c[name], on_events=lambda *hint: None) for c in clients]
        changes = [
            PilotControl("pilot", "", (f"p{i}",), "olivia", NOW)
            if i % 2
            else PilotControl("pilot", f"c{i}", (), "olivia", NOW)
            for i in range(8)
        ]
        await asyncio.gather(*(stores[i % 2].set_control(c, "emea", "sales") for i, c in enumerate(changes)))
        doc = await clients[0][name][PILOT_CONTROLS].find_one({"_id": "pilot"})
        assert doc is not None
        assert doc["version"] == 8
        versions = [Envelope.from_document(e).payload(events.PilotControlSet).version for e in doc["outbox"]]
        assert sorted(versions) == list(range(1, 9))
        stored = await stores[1].get_control("pilot")
        assert stored is not None
        assert stored.version == 8
    finally:
        for client in clients:
            await client.close()

"""Deleting a document never loses the events still queued on it: they move into the ending's record."""

from __future__ import annotations

from datetime import timedelta

from pymongo import AsyncMongoClient

from guild_common.clock import utc_now
from guild_common.events.outbox import OUTBOX, PENDING
from guild_common.mongo import Document, ensure_indexes
from guild_community.adapters.communities_store import SCHEMA, MongoCommunityRepository
from guild_community.adapters.membership_store import CARRIED
from guild_community.adapters.membership_store import SCHEMA as MEMBERSHIP_SCHEMA
from guild_community.adapters.people_store import SCHEMA as PEOPLE_SCHEMA
from guild_community.adapters.people_store import UNFOLLOWS, MongoPeopleRepository
from guild_community.config import CommunitySettings
from guild_community.domain.membership import JoinRequest, JoinRequested
from guild_community.domain.people import Follow
from guild_testing.fixtures import SettingsFactory


async def test_an_unfollow_before_the_relay_carries_the_follows_own_event(
    settings_for: SettingsFactory,
) -> None:
    settings = settings_for(CommunitySettings)
    client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
    try:
        db = client[settings.database_name]
        await ensure_indexes(db, PEOPLE_SCHEMA.indexes)
        # No relay runs: the follow's event is still queued when the unfollow comes.
        people = MongoPeopleRepository(db, on_events=lambda *_: None)
        follow = Follow("cat", "ann", utc_now() - timedelta(seconds=1))
        assert await people.add_follow(follow)
        assert await people.remove_follow(follow, utc_now())
        ended = await db[UNFOLLOWS].find_one({"follower_id": "cat", "followee_id": "ann"})
        assert ended is not None
        assert [e["type"] for e in ended[OUTBOX]] == [
            "guild.community.followed.v1",
            "guild.community.unfollowed.v1",
        ]
    finally:
        await client.close()


async def test_a_join_request_decided_before_the_relay_keeps_its_event(settings_for: SettingsFactory) -> None:
    settings = settings_for(CommunitySettings)
    client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
    try:
        db = client[settings.database_name]
        await ensure_indexes(db, [*SCHEMA.indexes, *MEMBERSHIP_SCHEMA.indexes])
        woken: list[tuple[object, object]] = []
        # No relay runs (NATS could be down): the request's event is still queued when it is decided.
        communities = MongoCommunityRepository(db, on_events=lambda *hint: woken.append(hint))
        request = JoinRequest("c1", "bob", utc_now())
        await communities.add_join_request(request, JoinRequested(request, "emea", "sales"))
        assert await communities.delete_join_request("c1", "bob")
        [carried] = await db[CARRIED].find({}).to_list()
        assert [e["type"] for e in carried[OUTBOX]] == ["guild.community.join_requested.v1"]
        assert carried[PENDING] is True
        assert woken[-1] == (CARRIED, carried["_id"])
        # Deciding again finds nothing and carries nothing more.
        assert not await communities.delete_join_request("c1", "bob")
        assert await db[CARRIED].count_documents({}) == 1
    finally:
        await client.close()

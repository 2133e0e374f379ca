"""The expert directory keeps every topic a person has records for, whichever replica records it."""

from __future__ import annotations

from pymongo import AsyncMongoClient

from guild_common.mongo import Document
from guild_community.adapters.experts_store import EXPERT_TAGS, MongoExpertDirectory
from guild_community.config import CommunitySettings
from guild_testing.fixtures import SettingsFactory


async def test_a_topic_added_by_another_replica_meanwhile_is_kept(settings_for: SettingsFactory) -> None:
    settings = settings_for(CommunitySettings)
    client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
    try:
        db = client[settings.database_name]
        tags = db[EXPERT_TAGS]
        raced: list[bool] = []

        class Raced(MongoExpertDirectory):
            async def _expertise(self, member_id: str) -> set[str]:
                if not raced:  # another replica records a topic between this one's read and its write
                    raced.append(True)
                    await tags.update_one({"_id": "*:ann"}, {"$addToSet": {"tags": "rust"}}, upsert=True)
                return set()

        await Raced(db).refresh("*", "ann", ["python"])
        doc = await tags.find_one({"_id": "*:ann"})
        assert doc is not None
        assert sorted(doc["tags"]) == ["python", "rust"]
    finally:
        await client.close()

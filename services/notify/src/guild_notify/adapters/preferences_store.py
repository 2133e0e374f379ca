"""Preferences in MongoDB, one document per member holding only what the member changed."""

from __future__ import annotations

from collections.abc import Callable

from pymongo.asynchronous.database import AsyncDatabase

from guild_common.atomic import update_guarded
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_notify.domain.notifications import NotificationType
from guild_notify.domain.preferences import Channels, DigestFrequency, Preferences

PREFERENCES = "preferences"
SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(PREFERENCES, [("digest_frequency", 1), ("email_address", 1), ("_id", 1)]),
    ],
)


def _preferences(member_id: str, doc: Document | None) -> Preferences:
    if doc is None:
        return Preferences(member_id=member_id)
    channels = {
        NotificationType(t): Channels(in_app=bool(c["in_app"]), email=bool(c["email"]))
        for t, c in doc.get("channels", {}).items()
        if t in NotificationType.__members__.values()
    }
    return Preferences(
        member_id=member_id,
        channels=channels,
        muted_community_ids=frozenset(doc.get("muted_community_ids", [])),
        digest_frequency=DigestFrequency(doc.get("digest_frequency", Preferences.digest_frequency)),
        email_address=doc.get("email_address", ""),
        learning_records_opt_out=bool(doc.get("learning_records_opt_out", False)),
    )


def _document(p: Preferences) -> Document:
    return {
        "channels": {t.value: {"in_app": c.in_app, "email": c.email} for t, c in p.channels.items()},
        "muted_community_ids": sorted(p.muted_community_ids),
        "digest_frequency": p.digest_frequency.value,
        "email_address": p.email_address,
        "learning_records_opt_out": p.learning_records_opt_out,
    }


class MongoPreferences:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._collection = db[PREFERENCES]

    async def get(self, member_id: str) -> Preferences:
        return _preferences(member_id, await self._collection.find_one({"_id": member_id}))

    async def change(self, member_id: str, change: Callable[[Preferences], Preferences]) -> Preferences:
        """Apply ``change`` to the stored preferences with a version guard: a change racing another
        (a replica, an unsubscribe link) is built again from the state that won."""
        changed: list[Preferences] = []

        def build(doc: Document | None) -> Document:
            updated = change(_preferences(member_id, doc))
            changed[:] = [updated]
            return {"$set": _document(updated)}

        await update_guarded(self._collection, member_id, build)
        return changed[0]

    async def digest_subscribers(self, frequency: DigestFrequency) -> list[str]:
        """Members with this digest frequency and an email address (members without a stored
        document have no address, so they receive no email whatever the default)."""
        cursor = self._collection.find(
            {"digest_frequency": frequency.value, "email_address": {"$ne": ""}}, {"_id": 1}
        ).sort([("_id", 1)])
        return [d["_id"] async for d in cursor]

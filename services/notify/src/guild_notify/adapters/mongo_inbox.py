"""Notifications in MongoDB, one document each, keyed by (event, recipient, type)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec
from guild_notify.app.ports import InboxPage
from guild_notify.domain.model import Notification, NotificationType

NOTIFICATIONS = "notifications"
INDEXES = [
    IndexSpec(NOTIFICATIONS, [("recipient_id", 1), ("create_time", -1), ("_id", -1)]),
    IndexSpec(NOTIFICATIONS, [("recipient_id", 1), ("read", 1), ("create_time", -1), ("_id", -1)]),
]


def _notification(doc: Document) -> Notification:
    return Notification(
        id=doc["_id"],
        recipient_id=doc["recipient_id"],
        type=NotificationType(doc["type"]),
        community_id=doc["community_id"],
        subject_id=doc["subject_id"],
        actor_id=doc["actor_id"],
        text=doc["text"],
        create_time=doc["create_time"],
        read=doc["read"],
    )


class MongoInbox:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._notifications = db[NOTIFICATIONS]

    async def add(self, n: Notification) -> bool:
        try:
            await self._notifications.insert_one(
                {
                    "_id": n.id,
                    "recipient_id": n.recipient_id,
                    "type": n.type.value,
                    "community_id": n.community_id,
                    "subject_id": n.subject_id,
                    "actor_id": n.actor_id,
                    "text": n.text,
                    "create_time": n.create_time,
                    "read": n.read,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def page(self, recipient_id: str, unread_only: bool, page_size: int, page_token: str) -> InboxPage:
        query: dict[str, Any] = {"recipient_id": recipient_id}
        if unread_only:
            query["read"] = False
        docs, next_token = await keyset_page(
            self._notifications,
            query,
            sort_field="create_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
        )
        unread = await self._notifications.count_documents({"recipient_id": recipient_id, "read": False})
        return InboxPage([_notification(d) for d in docs], next_token, unread)

    async def owned(self, recipient_id: str, ids: list[str]) -> set[str]:
        cursor = self._notifications.find({"_id": {"$in": ids}, "recipient_id": recipient_id}, {"_id": 1})
        return {d["_id"] async for d in cursor}

    async def mark_read(self, recipient_id: str, ids: list[str]) -> int:
        result = await self._notifications.update_many(
            {"_id": {"$in": ids}, "recipient_id": recipient_id, "read": False}, {"$set": {"read": True}}
        )
        return result.modified_count

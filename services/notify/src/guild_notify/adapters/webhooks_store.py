"""Webhooks and their deliveries in MongoDB (``webhook_client`` POSTs them)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_notify.domain.webhooks import Attempt, Delivery, DeliveryState, Webhook

WEBHOOKS = "webhooks"
DELIVERIES = "webhook_deliveries"
SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(WEBHOOKS, [("owner_id", 1), ("create_time", 1), ("_id", 1)]),
        IndexSpec(WEBHOOKS, [("event_types", 1)]),
        IndexSpec(DELIVERIES, [("state", 1), ("next_attempt_time", 1), ("_id", 1)]),
        IndexSpec(DELIVERIES, [("webhook_id", 1), ("create_time", -1), ("_id", -1)]),
    ],
)


def _webhook(doc: Document) -> Webhook:
    return Webhook(
        id=doc["_id"],
        owner_id=doc["owner_id"],
        url=doc["url"],
        event_types=tuple(doc["event_types"]),
        secret=doc["secret"],
        create_time=doc["create_time"],
    )


def _attempt(doc: Document) -> Attempt:
    return Attempt(
        attempt=doc["attempt"],
        at=doc["at"],
        status_code=doc["status_code"],
        error=doc["error"],
        duration_ms=doc["duration_ms"],
    )


def _delivery(doc: Document) -> Delivery:
    return Delivery(
        id=doc["_id"],
        webhook_id=doc["webhook_id"],
        owner_id=doc["owner_id"],
        event_id=doc["event_id"],
        event_type=doc["event_type"],
        body=doc["body"],
        state=DeliveryState(doc["state"]),
        create_time=doc["create_time"],
        next_attempt_time=doc["next_attempt_time"],
        attempts=tuple(_attempt(a) for a in doc.get("attempts", [])),
        round_attempts=doc.get("round_attempts", 0),
    )


class MongoWebhooks:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._webhooks = db[WEBHOOKS]

    async def create(self, webhook: Webhook) -> Webhook:
        try:
            await self._webhooks.insert_one(
                {
                    "_id": webhook.id,
                    "owner_id": webhook.owner_id,
                    "url": webhook.url,
                    "event_types": list(webhook.event_types),
                    "secret": webhook.secret,
                    "create_time": webhook.create_time,
                }
            )
        except DuplicateKeyError:
            existing = await self.get(webhook.id)
            assert existing is not None
            return existing
        return webhook

    async def get(self, webhook_id: str) -> Webhook | None:
        doc = await self._webhooks.find_one({"_id": webhook_id})
        return _webhook(doc) if doc is not None else None

    async def page(self, owner_id: str, page_size: int, page_token: str) -> tuple[list[Webhook], str]:
        docs, token = await keyset_page(
            self._webhooks,
            {"owner_id": owner_id},
            sort_field="create_time",
            descending=False,
            page_size=page_size,
            page_token=page_token,
        )
        return [_webhook(d) for d in docs], token

    async def delete(self, webhook_id: str) -> None:
        await self._webhooks.delete_one({"_id": webhook_id})

    async def subscribed(self, event_type: str) -> list[Webhook]:
        return [_webhook(d) async for d in self._webhooks.find({"event_types": event_type})]


class MongoDeliveries:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._deliveries = db[DELIVERIES]

    async def enqueue(self, d: Delivery) -> bool:
        try:
            await self._deliveries.insert_one(
                {
                    "_id": d.id,
                    "webhook_id": d.webhook_id,
                    "owner_id": d.owner_id,
                    "event_id": d.event_id,
                    "event_type": d.event_type,
                    "body": d.body,
                    "state": d.state.value,
                    "create_time": d.create_time,
                    "next_attempt_time": d.next_attempt_time,
                    "attempts": [],
                    "round_attempts": 0,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def get(self, delivery_id: str) -> Delivery | None:
        doc = await self._deliveries.find_one({"_id": delivery_id})
        return _delivery(doc) if doc is not None else None

    async def page(self, webhook_id: str, page_size: int, page_token: str) -> tuple[list[Delivery], str]:
        docs, token = await keyset_page(
            self._deliveries,
            {"webhook_id": webhook_id},
            sort_field="create_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
        )
        return [_delivery(d) for d in docs], token

    async def due(self, now: datetime, limit: int, skip_webhooks: Collection[str] = ()) -> list[Delivery]:
        query: Document = {"state": DeliveryState.PENDING.value, "next_attempt_time": {"$lte": now}}
        if skip_webhooks:
            query["webhook_id"] = {"$nin": list(skip_webhooks)}
        cursor = self._deliveries.find(query).sort([("next_attempt_time", 1), ("_id", 1)]).limit(limit)
        return [_delivery(d) async for d in cursor]

    async def next_due(self, skip_webhooks: Collection[str] = ()) -> datetime | None:
        query: Document = {"state": DeliveryState.PENDING.value}
        if skip_webhooks:
            query["webhook_id"] = {"$nin": list(skip_webhooks)}
        doc = await self._deliveries.find_one(
            query, {"next_attempt_time": 1}, sort=[("next_attempt_time", 1), ("_id", 1)]
        )
        return doc["next_attempt_time"] if doc is not None else None

    async def claim(self, delivery: Delivery, now: datetime, until: datetime) -> bool:
        """Take a due delivery for one attempt: its next attempt time moves to ``until``, so no other
        sweep (of this or another replica) takes it meanwhile; if the attempt never records, it falls due
        again then."""
        result = await self._deliveries.update_one(
            {
                "_id": delivery.id,
                "state": DeliveryState.PENDING.value,
                "next_attempt_time": delivery.next_attempt_time,
            },
            {"$set": {"next_attempt_time": until}},
        )
        return result.modified_count == 1

    async def record(
        self,
        delivery_id: str,
        attempt: Attempt,
        state: DeliveryState,
        next_attempt_time: datetime,
        round_attempts: int,
    ) -> None:
        await self._deliveries.update_one(
            {"_id": delivery_id},
            {
                "$set": {
                    "state": state.value,
                    "next_attempt_time": next_attempt_time,
                    "round_attempts": round_attempts,
                },
                "$push": {
                    "attempts": {
                        "attempt": attempt.attempt,
                        "at": attempt.at,
                        "status_code": attempt.status_code,
                        "error": attempt.error,
                        "duration_ms": attempt.duration_ms,
                    }
                },
            },
        )

    async def replay(self, delivery_id: str, now: datetime) -> Delivery:
        await self._deliveries.update_one(
            {"_id": delivery_id},
            {
                "$set": {
                    "state": DeliveryState.PENDING.value,
                    "next_attempt_time": now,
                    "round_attempts": 0,
                }
            },
        )
        replayed = await self.get(delivery_id)
        assert replayed is not None
        return replayed

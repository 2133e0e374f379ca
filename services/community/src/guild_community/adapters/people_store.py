"""Profiles and follows in MongoDB."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.atomic import update_guarded, upsert_by_id
from guild_common.events.outbox import (
    OutboxWake,
    merge_updates,
    outbox_fields,
    outbox_indexes,
    outbox_update,
    pending_events,
)
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_community.adapters.outbound_events import people_envelope
from guild_community.domain.people import (
    Follow,
    Followed,
    PeopleEvent,
    Profile,
    Unfollowed,
    follow_key,
)

PROFILES = "profiles"
FOLLOWS = "follows"
# One document per follow that ended; it carries the unfollowed event.
UNFOLLOWS = "unfollows"

SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(FOLLOWS, [("followee_id", 1), ("create_time", -1), ("_id", -1)]),
        IndexSpec(FOLLOWS, [("follower_id", 1), ("create_time", -1), ("_id", -1)]),
        *outbox_indexes([PROFILES, FOLLOWS, UNFOLLOWS]),
    ],
    outbox_collections=[PROFILES, FOLLOWS, UNFOLLOWS],
)
_PROFILE_FIELDS = ("display_name", "job_title", "department", "region", "bio", "expertise", "interests")


def _profile(doc: Document) -> Profile:
    return Profile(
        member_id=doc["_id"],
        display_name=doc.get("display_name", ""),
        job_title=doc.get("job_title", ""),
        department=doc.get("department", ""),
        region=doc.get("region", ""),
        bio=doc.get("bio", ""),
        expertise=list(doc.get("expertise", [])),
        interests=list(doc.get("interests", [])),
        update_time=doc.get("update_time"),
        follower_count=doc.get("follower_count", 0),
        following_count=doc.get("following_count", 0),
    )


def _follow(doc: Document) -> Follow:
    return Follow(doc["follower_id"], doc["followee_id"], doc["create_time"])


class MongoPeopleRepository:
    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake) -> None:
        self._profiles = db[PROFILES]
        self._follows = db[FOLLOWS]
        self._unfollows = db[UNFOLLOWS]
        self._on_events = on_events

    async def get_profile(self, member_id: str) -> Profile | None:
        doc = await self._profiles.find_one({"_id": member_id}, {"outbox": 0})
        return _profile(doc) if doc else None

    async def update_profile(
        self, member_id: str, change: Callable[[Profile], tuple[Profile, list[PeopleEvent]]]
    ) -> Profile:
        """Apply ``change`` to the stored profile (an empty one if none) with a version guard: a change
        racing another writer is built again from the new state; the counters are not touched."""
        changed: list[Profile] = []

        def build(doc: Document | None) -> Document:
            current = _profile(doc) if doc else Profile(member_id=member_id)
            updated, events = change(current)
            changed[:] = [updated]
            fields = {name: getattr(updated, name) for name in _PROFILE_FIELDS}
            return merge_updates(
                {"$set": {**fields, "update_time": updated.update_time}},
                outbox_update([people_envelope(e) for e in events]),
            )

        await update_guarded(self._profiles, member_id, build)
        self._on_events(PROFILES, member_id)
        return changed[0]

    async def add_follow(self, follow: Follow) -> bool:
        try:
            await self._follows.insert_one(
                {
                    "_id": follow.key,
                    "follower_id": follow.follower_id,
                    "followee_id": follow.followee_id,
                    "create_time": follow.create_time,
                    **outbox_fields([people_envelope(Followed(follow))]),
                }
            )
        except DuplicateKeyError:
            return False
        await self._count(follow, 1)
        self._on_events(FOLLOWS, follow.key)
        return True

    async def get_follow(self, follower_id: str, followee_id: str) -> Follow | None:
        doc = await self._follows.find_one({"_id": follow_key(follower_id, followee_id)})
        return _follow(doc) if doc else None

    async def remove_follow(self, follow: Follow, now: datetime) -> bool:
        ended_id = f"{follow.key}:{int(follow.create_time.timestamp() * 1000)}"
        # The follow's own event, if the relay has not published it yet, goes first. (A follow's
        # outbox is written once, at its insert: what is read here is all it will ever queue.)
        pending = pending_events(await self._follows.find_one({"_id": follow.key}))
        try:
            await self._unfollows.insert_one(
                {
                    "_id": ended_id,
                    "follower_id": follow.follower_id,
                    "followee_id": follow.followee_id,
                    "end_time": now,
                    **outbox_fields([*pending, people_envelope(Unfollowed(follow, now))]),
                }
            )
        except DuplicateKeyError:
            pass
        # Only this follow (not one made again since): the one delete that succeeds counts it out.
        result = await self._follows.delete_one({"_id": follow.key, "create_time": follow.create_time})
        self._on_events(UNFOLLOWS, ended_id)
        if result.deleted_count != 1:
            return False
        await self._count(follow, -1)
        return True

    async def list_follows(
        self, *, field: str, member_id: str, page_size: int, page_token: str
    ) -> tuple[list[Follow], str]:
        docs, token = await keyset_page(
            self._follows,
            {field: member_id},
            sort_field="create_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection={"outbox": 0},
        )
        return [_follow(d) for d in docs], token

    async def _count(self, follow: Follow, delta: int) -> None:
        for member_id, counter in (
            (follow.follower_id, "following_count"),
            (follow.followee_id, "follower_count"),
        ):
            await upsert_by_id(self._profiles, member_id, {"$inc": {counter: delta}})

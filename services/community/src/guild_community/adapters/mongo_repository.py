"""Communities and memberships in MongoDB."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from pymongo import InsertOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from guild_common.doclocks import document_lock
from guild_common.errors import AlreadyExists, NotFound
from guild_common.events.outbox import (
    OUTBOX,
    PENDING,
    SEQ,
    OutboxWake,
    merge_updates,
    outbox_fields,
    outbox_indexes,
    outbox_update,
    pending_events,
)
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec
from guild_community.adapters.events import to_envelope
from guild_community.adapters.mongo_roster import Roster
from guild_community.app.ports import CommunityFilter, CommunityPage, JoinRequestPage, MemberPage
from guild_community.domain.model import (
    Community,
    DomainEvent,
    Invitation,
    JoinRequest,
    JoinRequested,
    Lifecycle,
    MemberInvited,
    MemberJoined,
    MemberLeft,
    Membership,
    Role,
    Visibility,
    membership_key,
    name_key,
    prefix_key,
)

COMMUNITIES = "communities"
MEMBERSHIPS = "memberships"
JOIN_REQUESTS = "join_requests"
INVITATIONS = "invitations"
# Events still queued on a join request or invitation when it was deleted (approved, denied, accepted).
CARRIED = "carried_events"
BANS = "bans"
# One document per membership that ended; it carries the member_left event.
DEPARTURES = "departures"
# Lock namespace serialising changes that could remove a community's last owner.
OWNERS_LOCK = "community_owners"

INDEXES = [
    IndexSpec(COMMUNITIES, [("slug", 1)], unique=True),
    IndexSpec(COMMUNITIES, [("name_key", 1), ("_id", 1)]),
    IndexSpec(COMMUNITIES, [("programme", 1), ("name_key", 1), ("_id", 1)]),
    IndexSpec(COMMUNITIES, [("region", 1), ("name_key", 1), ("_id", 1)]),
    IndexSpec(COMMUNITIES, [("lifecycle", 1), ("name_key", 1), ("_id", 1)]),
    IndexSpec(COMMUNITIES, [("visibility", 1), ("name_key", 1), ("_id", 1)]),
    IndexSpec(MEMBERSHIPS, [("community_id", 1), ("join_time", 1), ("_id", 1)]),
    IndexSpec(MEMBERSHIPS, [("community_id", 1), ("role", 1), ("join_time", 1), ("_id", 1)]),
    IndexSpec(MEMBERSHIPS, [("member_id", 1), ("join_time", 1)]),
    IndexSpec(JOIN_REQUESTS, [("community_id", 1), ("create_time", 1), ("_id", 1)]),
    IndexSpec(BANS, [("community_id", 1)]),
    IndexSpec(DEPARTURES, [("community_id", 1), ("leave_time", 1)]),
    *outbox_indexes([COMMUNITIES, MEMBERSHIPS, DEPARTURES, INVITATIONS, JOIN_REQUESTS, CARRIED]),
]
OUTBOX_COLLECTIONS = [COMMUNITIES, MEMBERSHIPS, DEPARTURES, INVITATIONS, JOIN_REQUESTS, CARRIED]
# Most communities a "mine" listing considers.
MINE_LIMIT = 2000
# Most memberships of one bulk enrolment woken one by one; a larger cohort asks for a full sweep.
WAKE_EACH_MAX = 300


def _community_doc(c: Community) -> Document:
    return {
        "_id": c.id,
        "slug": c.slug,
        "programme": c.programme,
        "region": c.region,
        "created_by": c.created_by,
        "create_time": c.create_time,
        "member_count": c.member_count,
        **_mutable_fields(c),
    }


def _mutable_fields(c: Community) -> Document:
    return {
        "name": c.name,
        "name_key": name_key(c.name),
        "description": c.description,
        "visibility": c.visibility.value,
        "lifecycle": c.lifecycle.value,
        "settings": {"auto_hide_flag_threshold": c.auto_hide_flag_threshold, "pilot_cap": c.pilot_cap},
        "version": c.version,
    }


def _community(doc: Document) -> Community:
    settings = doc.get("settings") or {}
    return Community(
        id=doc["_id"],
        slug=doc["slug"],
        name=doc["name"],
        description=doc.get("description", ""),
        programme=doc["programme"],
        region=doc["region"],
        visibility=Visibility(doc["visibility"]),
        lifecycle=Lifecycle(doc["lifecycle"]),
        created_by=doc["created_by"],
        create_time=doc["create_time"],
        member_count=doc.get("member_count", 0),
        auto_hide_flag_threshold=settings.get("auto_hide_flag_threshold", 3),
        pilot_cap=settings.get("pilot_cap", 0),
        version=doc.get("version", 1),
    )


def _membership_doc(m: Membership) -> Document:
    return {
        "_id": m.key,
        "community_id": m.community_id,
        "member_id": m.member_id,
        "role": m.role.value,
        "join_time": m.join_time,
    }


def _membership(doc: Document) -> Membership:
    return Membership(
        community_id=doc["community_id"],
        member_id=doc["member_id"],
        role=Role(doc["role"]),
        join_time=doc["join_time"],
    )


def departure_id(membership_id: str, join_time: datetime) -> str:
    """The natural key of the departure that ends one membership (a rejoin is a new membership)."""
    return f"{membership_id}:{int(join_time.timestamp() * 1000)}"


class MongoCommunityRepository:
    """Each write is one single-document operation carrying its own outbox events."""

    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake) -> None:
        self._communities = db[COMMUNITIES]
        self._memberships = db[MEMBERSHIPS]
        self._join_requests = db[JOIN_REQUESTS]
        self._invitations = db[INVITATIONS]
        self._bans = db[BANS]
        self._departures = db[DEPARTURES]
        self._db = db
        self._on_events = on_events
        self._roster = Roster(db)

    async def backfill(self) -> None:
        """Give communities stored before name search their name key, and before rosters their roster."""
        async for doc in self._communities.find({"name_key": {"$exists": False}}, {"name": 1}):
            async with document_lock(COMMUNITIES, doc["_id"]):
                await self._communities.update_one(
                    {"_id": doc["_id"]}, {"$set": {"name_key": name_key(doc["name"])}}
                )
        async for doc in self._communities.find({}, {"_id": 1}):
            if await self._roster.has_head(doc["_id"]):
                continue
            async with self._roster.lock(doc["_id"]):
                cursor = self._memberships.find(
                    {"community_id": doc["_id"], "roster": {"$exists": False}}, {"outbox": 0}
                ).sort([("join_time", 1), ("_id", 1)])
                memberships = [_membership(d) async for d in cursor]
                placed = await self._roster.positions(doc["_id"], len(memberships))
                for position, m in zip(placed, memberships, strict=True):
                    async with document_lock(MEMBERSHIPS, m.key):
                        await self._memberships.update_one(
                            {"_id": m.key}, {"$set": {"roster": list(position)}}
                        )
                await self._roster.append(
                    doc["_id"], [(p, m, m.member_id) for p, m in zip(placed, memberships, strict=True)]
                )

    async def update_community(self, community_id: str, change: Callable[[Community], None]) -> Community:
        async with document_lock(COMMUNITIES, community_id):
            community = await self.get_community(community_id)
            if community is None:
                raise NotFound(f"community {community_id} not found", reason="COMMUNITY_NOT_FOUND")
            change(community)
            envelopes = [to_envelope(e) for e in community.events]
            update = merge_updates({"$set": _mutable_fields(community)}, outbox_update(envelopes))
            await self._communities.update_one({"_id": community_id}, update)
        community.events.clear()
        self._on_events(COMMUNITIES, community_id)
        return community

    async def list_communities(
        self, where: CommunityFilter, page_size: int, page_token: str
    ) -> CommunityPage:
        query: dict[str, Any] = {}
        if where.programme:
            query["programme"] = where.programme
        if where.region:
            query["region"] = where.region
        if where.lifecycle is not None:
            query["lifecycle"] = where.lifecycle.value
        if where.member_id:
            ids = [
                d["community_id"]
                async for d in self._memberships.find(
                    {"member_id": where.member_id}, {"community_id": 1}
                ).limit(MINE_LIMIT)
            ]
            query["_id"] = {"$in": ids}
            if where.visibility is not None:
                query["visibility"] = where.visibility.value
        elif where.visibility is None:
            query["visibility"] = {"$ne": Visibility.HIDDEN.value}
        elif where.visibility == Visibility.HIDDEN:
            return CommunityPage([], "")
        else:
            query["visibility"] = where.visibility.value
        if where.name_prefix:
            prefix = prefix_key(where.name_prefix)
            query["name_key"] = {"$gte": prefix, "$lt": prefix + "\U0010ffff"}
        docs, next_token = await keyset_page(
            self._communities,
            query,
            sort_field="name_key",
            descending=False,
            page_size=page_size,
            page_token=page_token,
            projection={"outbox": 0},
        )
        return CommunityPage([_community(d) for d in docs], next_token)

    async def add_community(self, community: Community, owner: Membership) -> Community:
        # The owner's membership goes first: a retry after a crash in between completes the pair,
        # and a membership without its community is never visible (every read checks the community).
        async with self._roster.lock(community.id):
            [position] = await self._roster.positions(community.id, 1)
            try:
                await self._memberships.insert_one({**_membership_doc(owner), "roster": list(position)})
            except DuplicateKeyError:
                pass
            else:
                await self._roster.append(community.id, [(position, owner, owner.member_id)])
        envelopes = [to_envelope(e) for e in community.events]
        try:
            await self._communities.insert_one({**_community_doc(community), **outbox_fields(envelopes)})
        except DuplicateKeyError as exc:
            existing = await self.get_community(community.id)
            if existing is not None and existing.created_by == community.created_by:
                return existing
            if existing is None:
                await self._memberships.delete_one({"_id": owner.key, "community_id": community.id})
            raise AlreadyExists(
                f"slug {community.slug!r} is taken", reason="SLUG_TAKEN", metadata={"slug": community.slug}
            ) from exc
        community.events.clear()
        self._on_events(COMMUNITIES, community.id)
        return community

    async def get_community(self, community_id: str) -> Community | None:
        doc = await self._communities.find_one({"_id": community_id}, {"outbox": 0})
        return _community(doc) if doc else None

    async def get_membership(self, community_id: str, member_id: str) -> Membership | None:
        doc = await self._memberships.find_one({"_id": membership_key(community_id, member_id)})
        return _membership(doc) if doc else None

    async def add_membership(self, membership: Membership, events: list[DomainEvent]) -> bool:
        own = [e for e in events if isinstance(e, MemberJoined) and e.membership.key == membership.key]
        envelopes = [to_envelope(e) for e in own]
        # Insert, place in the roster and increment under the community's lock (lock order: community,
        # then roster), as a bulk enrolment does.
        async with (
            document_lock(COMMUNITIES, membership.community_id),
            self._roster.lock(membership.community_id),
        ):
            [position] = await self._roster.positions(membership.community_id, 1)
            try:
                await self._memberships.insert_one(
                    {**_membership_doc(membership), "roster": list(position), **outbox_fields(envelopes)}
                )
            except DuplicateKeyError:
                return False
            await self._roster.append(membership.community_id, [(position, membership, membership.member_id)])
            await self._communities.update_one(
                {"_id": membership.community_id}, {"$inc": {"member_count": 1, "version": 1}}
            )
        self._on_events(MEMBERSHIPS, membership.key)
        return True

    async def add_memberships(
        self, community: Community, memberships: Sequence[Membership]
    ) -> tuple[int, int]:
        """Insert many memberships, each with its member_joined event; skip existing ones.

        Returns (newly inserted, member count). The count moves by what each chunk inserted, under the
        community's lock as a single join does: counting the memberships would read them all on FerretDB."""
        inserted = 0
        written: list[str] = []
        chunk = 1000
        for start in range(0, len(memberships), chunk):
            part = memberships[start : start + chunk]
            async with document_lock(COMMUNITIES, community.id), self._roster.lock(community.id):
                before = inserted
                placed = await self._roster.positions(community.id, len(part))
                ops = [
                    InsertOne(
                        {
                            **_membership_doc(m),
                            "roster": list(position),
                            **outbox_fields(
                                [to_envelope(MemberJoined(m, community.region, community.programme))]
                            ),
                        }
                    )
                    for m, position in zip(part, placed, strict=True)
                ]
                failed: set[int] = set()
                try:
                    result = await self._memberships.bulk_write(ops, ordered=False)
                    inserted += result.inserted_count
                except BulkWriteError as exc:
                    inserted += int(exc.details.get("nInserted", 0))
                    failed = {int(e["index"]) for e in exc.details.get("writeErrors", [])}
                written += [m.key for i, m in enumerate(part) if i not in failed]
                # Members that existed already keep their entry; their positions here hold gone entries.
                await self._roster.append(
                    community.id,
                    [
                        (position, None if i in failed else m, m.member_id)
                        for i, (m, position) in enumerate(zip(part, placed, strict=True))
                    ],
                )
                if inserted > before:
                    await self._communities.update_one(
                        {"_id": community.id}, {"$inc": {"member_count": inserted - before, "version": 1}}
                    )
        if len(written) <= WAKE_EACH_MAX:
            for key in written:
                self._on_events(MEMBERSHIPS, key)
        else:
            # A cohort this large would be as many hints (reads by _id): one full sweep publishes it.
            self._on_events()
        stored = await self.get_community(community.id)
        return inserted, stored.member_count if stored is not None else 0

    async def existing_members(self, community_id: str, member_ids: Sequence[str]) -> set[str]:
        keys = [membership_key(community_id, m) for m in member_ids]
        found: set[str] = set()
        for start in range(0, len(keys), 1000):
            cursor = self._memberships.find({"_id": {"$in": keys[start : start + 1000]}}, {"member_id": 1})
            found.update([d["member_id"] async for d in cursor])
        return found

    async def banned_among(self, community_id: str, member_ids: Sequence[str]) -> set[str]:
        # A community's bans are few: read them by index rather than probing thousands of ids.
        wanted = set(member_ids)
        cursor = self._bans.find({"community_id": community_id}, {"member_id": 1})
        return {d["member_id"] async for d in cursor if d["member_id"] in wanted}

    async def remove_membership(self, membership: Membership, event: MemberLeft) -> bool:
        # The departure record carries the event and is written first; a retry after a crash finds
        # it (natural _id per membership) and finishes the removal.
        ended_id = departure_id(membership.key, membership.join_time)
        # Lock order: membership, then community (nothing takes them the other way round).
        async with (
            document_lock(MEMBERSHIPS, membership.key),
            document_lock(COMMUNITIES, membership.community_id),
        ):
            doc = await self._memberships.find_one(
                {"_id": membership.key}, {"roster": 1, OUTBOX: 1, PENDING: 1}
            )
            try:
                await self._departures.insert_one(
                    {
                        "_id": ended_id,
                        "community_id": event.community_id,
                        "member_id": event.member_id,
                        "reason": event.reason.value,
                        "actor_id": event.actor_id,
                        "leave_time": event.time,
                        # The membership's own events (its join, a role change), if the relay has not
                        # published them yet, go first.
                        **outbox_fields([*pending_events(doc), to_envelope(event)]),
                    }
                )
            except DuplicateKeyError:
                pass
            result = await self._memberships.delete_one({"_id": membership.key})
            if result.deleted_count != 1:
                self._on_events(DEPARTURES, ended_id)
                return False
            if doc is not None and doc.get("roster"):
                await self._roster.mark_gone(membership.community_id, membership.member_id, doc["roster"])
            await self._communities.update_one(
                {"_id": membership.community_id}, {"$inc": {"member_count": -1}}
            )
        self._on_events(DEPARTURES, ended_id)
        return True

    async def update_membership(
        self, community_id: str, member_id: str, change: Callable[[Membership], list[DomainEvent]]
    ) -> Membership:
        key = membership_key(community_id, member_id)
        async with document_lock(MEMBERSHIPS, key):
            membership = await self.get_membership(community_id, member_id)
            if membership is None:
                raise NotFound(
                    f"{member_id} is not a member of {community_id}", reason="MEMBERSHIP_NOT_FOUND"
                )
            events = change(membership)
            if events:
                update = merge_updates(
                    {"$set": {"role": membership.role.value}}, outbox_update([to_envelope(e) for e in events])
                )
                await self._memberships.update_one({"_id": key}, update)
                doc = await self._memberships.find_one({"_id": key}, {"roster": 1})
                if doc is not None and doc.get("roster"):
                    await self._roster.set_role(community_id, member_id, doc["roster"], membership.role)
        if events:
            self._on_events(MEMBERSHIPS, key)
        return membership

    async def count_role(self, community_id: str, role: Role) -> int:
        """Active memberships holding ``role``: one whose departure is recorded (a removal under way, or
        one a crash interrupted before the delete) no longer counts, so it cannot stand in as the owner
        that lets the last other owner go."""
        cursor = self._memberships.find(
            {"community_id": community_id, "role": role.value}, {"member_id": 1, "join_time": 1}
        )
        holders = [departure_id(doc["_id"], doc["join_time"]) async for doc in cursor]
        departing: set[str] = set()
        for start in range(0, len(holders), 1000):
            found = self._departures.find({"_id": {"$in": holders[start : start + 1000]}}, {"_id": 1})
            departing.update([d["_id"] async for d in found])
        return len(holders) - len(departing)

    def roles_lock(self, community_id: str) -> AbstractAsyncContextManager[None]:
        return document_lock(OWNERS_LOCK, community_id)

    async def add_join_request(self, request: JoinRequest, event: JoinRequested) -> JoinRequest:
        key = membership_key(request.community_id, request.member_id)
        try:
            await self._join_requests.insert_one(
                {
                    "_id": key,
                    "community_id": request.community_id,
                    "member_id": request.member_id,
                    "create_time": request.create_time,
                    **outbox_fields([to_envelope(event)]),
                }
            )
        except DuplicateKeyError:
            stored = await self.get_join_request(request.community_id, request.member_id)
            if stored is not None:
                return stored
        self._on_events(JOIN_REQUESTS, key)
        return request

    async def get_join_request(self, community_id: str, member_id: str) -> JoinRequest | None:
        doc = await self._join_requests.find_one({"_id": membership_key(community_id, member_id)})
        return JoinRequest(doc["community_id"], doc["member_id"], doc["create_time"]) if doc else None

    async def delete_join_request(self, community_id: str, member_id: str) -> bool:
        return await self._delete_keeping_events(JOIN_REQUESTS, membership_key(community_id, member_id))

    async def _delete_keeping_events(self, collection: str, key: str) -> bool:
        """Delete ``key``, first moving the events still queued on it (the relay has not published them,
        e.g. while NATS is down) into ``carried_events``, which the relay publishes like any outbox."""
        async with document_lock(collection, key):
            doc = await self._db[collection].find_one({"_id": key}, {OUTBOX: 1, PENDING: 1, SEQ: 1})
            carried_id = f"{collection}:{key}:{doc.get(SEQ, 0) if doc else 0}"
            pending = pending_events(doc)
            if pending:
                try:
                    await self._db[CARRIED].insert_one({"_id": carried_id, **outbox_fields(pending)})
                except DuplicateKeyError:
                    pass  # carried over by an earlier attempt
            result = await self._db[collection].delete_one({"_id": key})
        if pending:
            self._on_events(CARRIED, carried_id)
        return result.deleted_count == 1

    async def list_join_requests(self, community_id: str, page_size: int, page_token: str) -> JoinRequestPage:
        docs, next_token = await keyset_page(
            self._join_requests,
            {"community_id": community_id},
            sort_field="create_time",
            descending=False,
            page_size=page_size,
            page_token=page_token,
        )
        return JoinRequestPage(
            [JoinRequest(d["community_id"], d["member_id"], d["create_time"]) for d in docs], next_token
        )

    async def add_invitation(self, invitation: Invitation, event: MemberInvited) -> Invitation:
        key = membership_key(invitation.community_id, invitation.member_id)
        try:
            await self._invitations.insert_one(
                {
                    "_id": key,
                    "community_id": invitation.community_id,
                    "member_id": invitation.member_id,
                    "invited_by": invitation.invited_by,
                    "create_time": invitation.create_time,
                    **outbox_fields([to_envelope(event)]),
                }
            )
        except DuplicateKeyError:
            stored = await self.get_invitation(invitation.community_id, invitation.member_id)
            if stored is not None:
                return stored
        self._on_events(INVITATIONS, key)
        return invitation

    async def get_invitation(self, community_id: str, member_id: str) -> Invitation | None:
        doc = await self._invitations.find_one({"_id": membership_key(community_id, member_id)})
        if doc is None:
            return None
        return Invitation(doc["community_id"], doc["member_id"], doc["invited_by"], doc["create_time"])

    async def delete_invitation(self, community_id: str, member_id: str) -> None:
        await self._delete_keeping_events(INVITATIONS, membership_key(community_id, member_id))

    async def add_ban(self, community_id: str, member_id: str, banned_by: str, when: datetime) -> None:
        try:
            await self._bans.insert_one(
                {
                    "_id": membership_key(community_id, member_id),
                    "community_id": community_id,
                    "member_id": member_id,
                    "banned_by": banned_by,
                    "ban_time": when,
                }
            )
        except DuplicateKeyError:
            pass

    async def is_banned(self, community_id: str, member_id: str) -> bool:
        return (
            await self._bans.find_one({"_id": membership_key(community_id, member_id)}, {"_id": 1})
            is not None
        )

    async def list_members(
        self, community_id: str, role: Role | None, page_size: int, page_token: str
    ) -> MemberPage:
        page = await self._roster.page(community_id, role, page_size, page_token)
        return MemberPage(page.members, page.next_token)

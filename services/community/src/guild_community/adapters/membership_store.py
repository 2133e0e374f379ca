"""Memberships, join requests, invitations, bans and departures in MongoDB.

``MongoMembershipStore`` is the membership half of ``communities_store.MongoCommunityRepository``, which
adds the communities themselves: the use cases see one repository (``app.ports.CommunityRepository``).

About 500 lines: each write of the aggregate is one guarded single-document operation with its outbox events
(memberships with their roster places and seats, departures, join requests and invitations with the events
they carry when deleted); they share those helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from pymongo import InsertOne, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from guild_common.atomic import update_guarded
from guild_common.errors import NotFound
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
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_common.pagination import Page
from guild_community.adapters.outbound_events import to_envelope
from guild_community.adapters.roster_store import Roster
from guild_community.adapters.seat_writes import Seats
from guild_community.app.ports import (
    CapacityReached,
    LastOwner,
    MembershipChanged,
)
from guild_community.domain.communities import (
    Community,
    DomainEvent,
)
from guild_community.domain.membership import (
    Invitation,
    JoinRequest,
    JoinRequested,
    MemberInvited,
    MemberJoined,
    MemberLeft,
    Membership,
    Role,
    membership_key,
)

MEMBERSHIPS = "memberships"
JOIN_REQUESTS = "join_requests"
INVITATIONS = "invitations"
# Events still queued on a join request or invitation when it was deleted (approved, denied, accepted).
CARRIED = "carried_events"
BANS = "bans"
# One document per membership that ended; it carries the member_left event.
DEPARTURES = "departures"

SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(MEMBERSHIPS, [("community_id", 1), ("join_time", 1), ("_id", 1)]),
        IndexSpec(MEMBERSHIPS, [("community_id", 1), ("role", 1), ("join_time", 1), ("_id", 1)]),
        IndexSpec(MEMBERSHIPS, [("member_id", 1), ("join_time", 1)]),
        IndexSpec(MEMBERSHIPS, [("community_id", 1), ("roster", 1), ("join_time", 1), ("_id", 1)]),
        IndexSpec(JOIN_REQUESTS, [("community_id", 1), ("create_time", 1), ("_id", 1)]),
        IndexSpec(BANS, [("community_id", 1)]),
        IndexSpec(DEPARTURES, [("community_id", 1), ("leave_time", 1)]),
        *outbox_indexes([MEMBERSHIPS, DEPARTURES, INVITATIONS, JOIN_REQUESTS, CARRIED]),
    ],
    outbox_collections=[MEMBERSHIPS, DEPARTURES, INVITATIONS, JOIN_REQUESTS, CARRIED],
)
# Most memberships of one bulk enrolment woken one by one; a larger cohort asks for a full sweep.
WAKE_EACH_MAX = 300


def membership_doc(m: Membership) -> Document:
    doc: Document = {
        "_id": m.key,
        "community_id": m.community_id,
        "member_id": m.member_id,
        "role": m.role.value,
        "join_time": m.join_time,
    }
    if m.enrolled_by:
        doc["enrolled_by"] = m.enrolled_by
    return doc


def membership_from_doc(doc: Document) -> Membership:
    return Membership(
        community_id=doc["community_id"],
        member_id=doc["member_id"],
        role=Role(doc["role"]),
        join_time=doc["join_time"],
        enrolled_by=doc.get("enrolled_by", ""),
    )


def departure_id(membership_id: str, join_time: datetime) -> str:
    """The natural key of the departure that ends one membership (a rejoin is a new membership)."""
    return f"{membership_id}:{int(join_time.timestamp() * 1000)}"


class MongoMembershipStore:
    """Each write is one single-document operation carrying its own outbox events."""

    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake, seats: Seats) -> None:
        self._memberships = db[MEMBERSHIPS]
        self._join_requests = db[JOIN_REQUESTS]
        self._invitations = db[INVITATIONS]
        self._bans = db[BANS]
        self._departures = db[DEPARTURES]
        self._db = db
        self._on_events = on_events
        self._roster = Roster(db)
        self._seats = seats

    async def _backfill_roster(self, community_id: str) -> None:
        unplaced = {"community_id": community_id, "roster": {"$exists": False}}
        while (
            docs := await self._memberships.find(unplaced, {OUTBOX: 0})
            .sort([("join_time", 1), ("_id", 1)])
            .limit(1000)
            .to_list()
        ):
            memberships = [membership_from_doc(d) for d in docs]
            placed = await self._roster.append(community_id, memberships)
            for position, m in zip(placed, memberships, strict=True):
                if not await self._place(m, position):  # placed by another replica meanwhile
                    await self._roster.mark_gone(community_id, m.member_id, position)

    async def _place(self, membership: Membership, position: tuple[int, int]) -> bool:
        """Record the roster position of the membership's entry (unless it has one already)."""
        result = await self._memberships.update_one(
            {"_id": membership.key, "roster": {"$exists": False}}, {"$set": {"roster": list(position)}}
        )
        return result.modified_count == 1

    async def get_membership(self, community_id: str, member_id: str) -> Membership | None:
        doc = await self._memberships.find_one({"_id": membership_key(community_id, member_id)})
        return membership_from_doc(doc) if doc else None

    async def add_membership(
        self, membership: Membership, events: list[DomainEvent], *, cap: int = 0
    ) -> bool:
        own = [e for e in events if isinstance(e, MemberJoined) and e.membership.key == membership.key]
        envelopes = [to_envelope(e) for e in own]
        # The seat first, so that concurrent joins never pass the cap; given back for a duplicate.
        if not await self._seats.take(membership.community_id, 1, cap=cap):
            raise CapacityReached(cap)
        try:
            await self._memberships.insert_one({**membership_doc(membership), **outbox_fields(envelopes)})
        except DuplicateKeyError:
            await self._seats.give_back(membership.community_id, 1)
            return False
        [position] = await self._roster.append(membership.community_id, [membership])
        await self._place(membership, position)
        self._on_events(MEMBERSHIPS, membership.key)
        return True

    async def add_memberships(
        self, community: Community, memberships: Sequence[Membership], *, cap: int = 0
    ) -> tuple[int, int]:
        """Insert many memberships, each with its member_joined event; skip existing ones.

        Returns (newly inserted, member count). Each chunk takes its seats first (all or none, within
        ``cap``) and gives back those of members that existed already: counting the memberships would
        read them all."""
        inserted = 0
        written: list[str] = []
        chunk = 1000
        for start in range(0, len(memberships), chunk):
            part = memberships[start : start + chunk]
            if not await self._seats.take(community.id, len(part), cap=cap):
                raise CapacityReached(cap)
            ops = [
                InsertOne(
                    {
                        **membership_doc(m),
                        **outbox_fields(
                            [to_envelope(MemberJoined(m, community.region, community.programme))]
                        ),
                    }
                )
                for m in part
            ]
            failed: set[int] = set()
            try:
                result = await self._memberships.bulk_write(ops, ordered=False)
                stored = result.inserted_count
            except BulkWriteError as exc:
                stored = int(exc.details.get("nInserted", 0))
                failed = {int(e["index"]) for e in exc.details.get("writeErrors", [])}
            inserted += stored
            await self._seats.give_back(community.id, len(part) - stored)
            new = [m for i, m in enumerate(part) if i not in failed]
            written += [m.key for m in new]
            # Members that existed already keep their entry; only the new ones take places, in order.
            # One update each: the embedded store stalls on an ``update`` command of hundreds of
            # statements, and each is a write by ``_id`` anyway.
            for m, position in zip(new, await self._roster.append(community.id, new), strict=True):
                await self._place(m, position)
        if len(written) <= WAKE_EACH_MAX:
            for key in written:
                self._on_events(MEMBERSHIPS, key)
        else:
            # A cohort this large would be as many hints (reads by _id): one full sweep publishes it.
            self._on_events()
        return inserted, await self._seats.member_count(community.id)

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
        """End the membership as read (``membership``); MembershipChanged if its role changed since,
        LastOwner if it is the community's last owner, False if it ended already.

        The membership is first marked ``leaving`` (guarded by the role read, so a concurrent role change
        and this removal see each other); then the departure record, which carries the event, is
        written; then the membership is deleted. A retry after a crash finds the mark and the record
        (natural ``_id`` per membership) and finishes the removal."""
        community_id = membership.community_id
        reserved = membership.role == Role.OWNER and not await self._leaving(membership.key)
        # An owner is counted out first (unless an interrupted removal of it did so already).
        if reserved and not await self._seats.owner_leaving(community_id):
            raise LastOwner(community_id)
        before = await self._memberships.find_one_and_update(
            {"_id": membership.key, "role": membership.role.value, "join_time": membership.join_time},
            {"$set": {"leaving": True}},
            return_document=ReturnDocument.BEFORE,
        )
        ended_id = departure_id(membership.key, membership.join_time)
        if before is None or before.get("leaving"):
            if reserved:  # not this call's owner to count out: gone, changed, or counted by another
                await self._seats.owner_added(community_id)
            if before is None:
                if await self._memberships.find_one({"_id": membership.key}, {"_id": 1}) is not None:
                    raise MembershipChanged(membership.key)
                self._on_events(DEPARTURES, ended_id)
                return False
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
                    **outbox_fields([*pending_events(before), to_envelope(event)]),
                }
            )
        except DuplicateKeyError:
            pass
        result = await self._memberships.delete_one({"_id": membership.key})
        if result.deleted_count != 1:
            self._on_events(DEPARTURES, ended_id)
            return False
        if before.get("roster"):
            await self._roster.mark_gone(community_id, membership.member_id, before["roster"])
        await self._seats.give_back(community_id, 1)
        self._on_events(DEPARTURES, ended_id)
        return True

    async def _leaving(self, key: str) -> bool:
        doc = await self._memberships.find_one({"_id": key}, {"leaving": 1})
        return doc is not None and bool(doc.get("leaving"))

    async def update_membership(
        self,
        community_id: str,
        member_id: str,
        expected: Role,
        role: Role,
        change: Callable[[Membership], list[DomainEvent]],
    ) -> Membership:
        """Change the role from ``expected`` to ``role`` (``change`` makes the events): MembershipChanged
        if the role is no longer ``expected``, NotFound if the membership is gone or leaving, LastOwner
        if it would take the community's last owner away."""
        key = membership_key(community_id, member_id)
        losing, gaining = expected == Role.OWNER != role, role == Role.OWNER != expected
        if losing and not await self._seats.owner_leaving(community_id):
            raise LastOwner(community_id)
        changed: list[Membership] = []

        def build(doc: Document | None) -> Document:
            if doc is None or doc.get("leaving"):
                raise NotFound(
                    f"{member_id} is not a member of {community_id}", reason="MEMBERSHIP_NOT_FOUND"
                )
            membership = membership_from_doc(doc)
            if membership.role != expected:
                raise MembershipChanged(key)
            events = change(membership)
            changed[:] = [membership]
            return merge_updates(
                {"$set": {"role": membership.role.value}}, outbox_update([to_envelope(e) for e in events])
            )

        try:
            after = await update_guarded(self._memberships, key, build)
        except BaseException:
            if losing:
                await self._seats.owner_added(community_id)
            raise
        assert after is not None
        if gaining:
            await self._seats.owner_added(community_id)
        if after.get("roster"):
            await self._roster.set_role(community_id, member_id, after["roster"], role, int(after["version"]))
        self._on_events(MEMBERSHIPS, key)
        return changed[0]

    async def count_role(self, community_id: str, role: Role) -> int:
        """Active memberships holding ``role`` (one being removed no longer counts), read from the
        memberships: only to seed ``owner_count`` of communities stored before it."""
        cursor = self._memberships.find(
            {"community_id": community_id, "role": role.value}, {"member_id": 1, "join_time": 1, "leaving": 1}
        )
        holders = [
            departure_id(doc["_id"], doc["join_time"]) async for doc in cursor if not doc.get("leaving")
        ]
        departing: set[str] = set()
        for start in range(0, len(holders), 1000):
            found = self._departures.find({"_id": {"$in": holders[start : start + 1000]}}, {"_id": 1})
            departing.update([d["_id"] async for d in found])
        return len(holders) - len(departing)

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
        e.g. while NATS is down) into ``carried_events``, which the relay publishes like any outbox.

        The delete is guarded by the outbox sequence read: if a write queued more events meanwhile, the
        document is read and carried again."""
        carried: list[str] = []
        while True:
            doc = await self._db[collection].find_one({"_id": key}, {OUTBOX: 1, PENDING: 1, SEQ: 1})
            if doc is None:
                deleted = False
                break
            seq = doc.get(SEQ, 0)
            pending = pending_events(doc)
            if pending:
                carried_id = f"{collection}:{key}:{seq}"
                try:
                    await self._db[CARRIED].insert_one({"_id": carried_id, **outbox_fields(pending)})
                except DuplicateKeyError:
                    pass  # carried over by an earlier attempt
                carried.append(carried_id)
            guard: Document = {"_id": key, SEQ: seq} if SEQ in doc else {"_id": key, SEQ: {"$exists": False}}
            result = await self._db[collection].delete_one(guard)
            if result.deleted_count == 1:
                deleted = True
                break
        for carried_id in carried:
            self._on_events(CARRIED, carried_id)
        return deleted

    async def list_join_requests(
        self, community_id: str, page_size: int, page_token: str
    ) -> Page[JoinRequest]:
        docs, next_token = await keyset_page(
            self._join_requests,
            {"community_id": community_id},
            sort_field="create_time",
            descending=False,
            page_size=page_size,
            page_token=page_token,
        )
        return Page(
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

    async def add_invitations(self, invitations: Sequence[Invitation], region: str, programme: str) -> int:
        """Insert the invitations not yet pending, each with its member_invited event; how many were new."""
        inserted = 0
        written: list[str] = []
        for start in range(0, len(invitations), 1000):
            part = invitations[start : start + 1000]
            docs = [
                {
                    "_id": membership_key(i.community_id, i.member_id),
                    "community_id": i.community_id,
                    "member_id": i.member_id,
                    "invited_by": i.invited_by,
                    "create_time": i.create_time,
                    **outbox_fields([to_envelope(MemberInvited(i, region, programme))]),
                }
                for i in part
            ]
            failed: set[int] = set()
            try:
                result = await self._invitations.insert_many(docs, ordered=False)
                inserted += len(result.inserted_ids)
            except BulkWriteError as exc:
                inserted += int(exc.details.get("nInserted", 0))
                failed = {int(e["index"]) for e in exc.details.get("writeErrors", [])}
            written += [str(doc["_id"]) for n, doc in enumerate(docs) if n not in failed]
        if len(written) <= WAKE_EACH_MAX:
            for key in written:
                self._on_events(INVITATIONS, key)
        else:
            self._on_events()
        return inserted

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
    ) -> Page[Membership]:
        page = await self._roster.page(community_id, role, page_size, page_token)
        return page

"""The ports' contract, checked on the in-memory stores (``memory``) and on the MongoDB ones (``mongo``).

The same test runs on both: the fast app-layer tests may trust the in-memory stores only as far as these
checks hold for the MongoDB stores too. The ``mongo`` runs need FerretDB (they are marked ``servers``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from services.notify.tests import memory

import guild_notify.adapters
from guild_common.clock import utc_now
from guild_common.errors import InvalidArgument
from guild_common.mongo import Document, collect_schema, ensure_indexes
from guild_notify.adapters import broadcasts_store, inbox_store
from guild_notify.adapters.broadcasts_store import MongoBroadcasts, MongoMemberships
from guild_notify.adapters.digests_store import MongoContentFeed, MongoDigestRuns
from guild_notify.adapters.email_store import MongoEmailOutbox
from guild_notify.adapters.inbox_store import MongoInbox
from guild_notify.adapters.interests_store import MongoTagInterests
from guild_notify.adapters.nudges_store import MongoNudges
from guild_notify.adapters.preferences_store import MongoPreferences
from guild_notify.adapters.webhooks_store import MongoDeliveries, MongoWebhooks
from guild_notify.adapters.xapi_store import MongoStatementQueue
from guild_notify.app.digests import DigestPreferences
from guild_notify.app.ports import (
    BroadcastStore,
    ContentFeed,
    DeliveryStore,
    DigestRuns,
    EmailOutbox,
    EmailQueue,
    Inbox,
    Memberships,
    NudgeStore,
    OutgoingEmail,
    StatementQueue,
    TagInterests,
    WebhookStore,
)
from guild_notify.domain.broadcasts import Broadcast
from guild_notify.domain.digests import ContentItem, Period
from guild_notify.domain.notifications import Notification, NotificationType
from guild_notify.domain.preferences import Channels, DigestFrequency
from guild_notify.domain.questions import QuestionNudge
from guild_notify.domain.webhooks import Attempt, Delivery, DeliveryState, Webhook
from guild_notify.domain.xapi import Outcome, StatementState
from guild_testing.fixtures import Infra, database_name

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Outbox(EmailQueue, EmailOutbox, Protocol):
    """The email queue and outbox are one store."""


@dataclass
class Stores:
    inbox: Inbox
    preferences: DigestPreferences
    emails: Outbox
    memberships: Memberships
    interests: TagInterests
    nudges: NudgeStore
    broadcasts: BroadcastStore
    feed: ContentFeed
    runs: DigestRuns
    webhooks: WebhookStore
    deliveries: DeliveryStore
    statements: StatementQueue


def _memory() -> Stores:
    return Stores(
        memory.MemoryInbox(),
        memory.MemoryPreferences(),
        memory.MemoryEmailOutbox(),
        memory.MemoryMemberships(),
        memory.MemoryTagInterests(),
        memory.MemoryNudges(),
        memory.MemoryBroadcasts(),
        memory.MemoryContentFeed(),
        memory.MemoryDigestRuns(),
        memory.MemoryWebhooks(),
        memory.MemoryDeliveries(),
        memory.MemoryStatementQueue(),
    )


@pytest_asyncio.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.servers)])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    if request.param == "memory":
        yield _memory()
        return
    infra: Infra = request.getfixturevalue("infra")
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    name = database_name(request.node.name)
    await client.drop_database(name)
    db = client[name]
    schema = collect_schema(guild_notify.adapters)
    await ensure_indexes(
        db, [*schema.indexes, *inbox_store.SEQUENCE_INDEXES, *broadcasts_store.SEQUENCE_INDEXES]
    )
    try:
        yield Stores(
            MongoInbox(db),
            MongoPreferences(db),
            MongoEmailOutbox(db),
            MongoMemberships(db),
            MongoTagInterests(db),
            MongoNudges(db),
            MongoBroadcasts(db),
            MongoContentFeed(db),
            MongoDigestRuns(db),
            MongoWebhooks(db),
            MongoDeliveries(db),
            MongoStatementQueue(db),
        )
    finally:
        await client.close()


def _note(
    event: str,
    recipient: str = "ann",
    *,
    subject: str = "q1",
    minutes: int = 0,
    type: NotificationType = NotificationType.NEW_ANSWER,
    actor: str = "bob",
) -> Notification:
    return Notification.for_event(
        event_id=event,
        recipient_id=recipient,
        type=type,
        community_id="c1",
        subject_id=subject,
        actor_id=actor,
        text=f"{actor} answered",
        time=T0 + timedelta(minutes=minutes),
        subject_title="Title",
    )


# --- inbox -------------------------------------------------------------------------------------------


async def test_inbox_numbers_each_recipients_notifications_once(stores: Stores) -> None:
    inbox = stores.inbox
    assert await inbox.last_sequence("ann") == 0
    first = await inbox.add(_note("e1"))
    assert first is not None
    assert first.sequence == 1
    assert await inbox.add(_note("e1")) is None  # a redelivery stores nothing
    assert (await inbox.add(_note("e2", minutes=1))) is not None
    bob = await inbox.add(_note("e1", "bob"))
    assert bob is not None
    assert bob.sequence == 1
    assert (await inbox.add(_note("e3", minutes=2))) is not None
    assert await inbox.last_sequence("ann") == 3
    assert [n.sequence for n in await inbox.after("ann", 0, 10)] == [1, 2, 3]
    assert [n.id for n in await inbox.after("ann", 1, 1)] == [_note("e2").id]
    assert await inbox.unread_count("ann") == 3


async def test_inbox_pages_newest_first_and_marks_only_the_recipients_own(stores: Stores) -> None:
    inbox = stores.inbox
    for i in range(5):
        await inbox.add(_note(f"e{i}", minutes=i))
    await inbox.add(_note("x", "bob"))
    ids = [_note(f"e{i}").id for i in reversed(range(5))]
    first = await inbox.page_after("ann", False, 2, None)
    assert [n.id for n in first] == ids[:2]
    rest = await inbox.page_after("ann", False, 10, (first[-1].create_time, first[-1].id))
    assert [n.id for n in rest] == ids[2:]
    assert await inbox.owned("ann", [ids[0], _note("x", "bob").id, "nope"]) == {ids[0]}
    assert await inbox.mark_read("ann", ids[:2]) == 2
    assert await inbox.mark_read("ann", ids[:2]) == 0  # read once
    assert await inbox.mark_read("ann", [_note("x", "bob").id]) == 0  # not hers
    assert await inbox.unread_count("ann") == 3
    assert await inbox.unread_count("bob") == 1
    assert [n.id for n in await inbox.page_after("ann", True, 10, None)] == ids[2:]
    assert [n.read for n in await inbox.page_after("ann", False, 10, None)] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert await inbox.mark_all_read("ann") == 3
    assert await inbox.unread_count("ann") == 0
    assert await inbox.page_after("ann", True, 10, None) == []


async def test_inbox_groups_count_and_page_by_latest(stores: Stores) -> None:
    inbox = stores.inbox
    for i in range(3):
        await inbox.add(_note(f"a{i}", subject="q1", minutes=i, actor=f"p{i}"))
    for q in range(2, 6):
        await inbox.add(_note(f"b{q}", subject=f"q{q}", minutes=10 + q))
    groups, token = await inbox.groups("ann", False, 100, "")
    assert token == ""
    assert [g.subject_id for g in groups] == ["q5", "q4", "q3", "q2", "q1"]
    q1 = groups[-1]
    assert (q1.total_count, q1.unread_count, q1.latest_actor_id) == (3, 3, "p2")
    await inbox.mark_read("ann", [_note("a0").id, _note("b5", subject="q5").id])
    paged: list[str] = []
    token = ""
    while True:
        page, token = await inbox.groups("ann", False, 2, token)
        paged += [g.subject_id for g in page]
        if not token:
            break
    assert paged == ["q5", "q4", "q3", "q2", "q1"]
    unread, _ = await inbox.groups("ann", True, 100, "")
    assert [(g.subject_id, g.unread_count) for g in unread] == [("q4", 1), ("q3", 1), ("q2", 1), ("q1", 2)]
    with pytest.raises(InvalidArgument):
        await inbox.groups("ann", False, 2, "forged")


# --- preferences and email ---------------------------------------------------------------------------


async def test_preferences_read_as_defaults_until_changed(stores: Stores) -> None:
    prefs = stores.preferences
    assert (await prefs.get("ann")).digest_frequency is DigestFrequency.WEEKLY
    await prefs.change("ann", lambda p: p.with_channels({NotificationType.MENTION: Channels(False, True)}))
    changed = await prefs.change(
        "ann", lambda p: replace(p, email_address="ann@example.com", digest_frequency=DigestFrequency.DAILY)
    )
    stored = await prefs.get("ann")
    assert stored == changed
    assert stored.channels_for(NotificationType.MENTION) == Channels(False, True)  # the first change kept
    await prefs.change("bob", lambda p: replace(p, digest_frequency=DigestFrequency.DAILY))  # no address
    await prefs.change("cat", lambda p: replace(p, email_address="cat@example.com"))
    await prefs.change(
        "abe", lambda p: replace(p, email_address="a@example.com", digest_frequency=DigestFrequency.DAILY)
    )
    assert await prefs.digest_subscribers(DigestFrequency.DAILY) == ["abe", "ann"]
    assert await prefs.digest_subscribers(DigestFrequency.WEEKLY) == ["cat"]


def _email(email_id: str) -> OutgoingEmail:
    return OutgoingEmail(email_id, "ann@example.com", "Subject", "text", "<p>html</p>", T0)


async def test_emails_are_queued_once_and_their_outcome_recorded_once(stores: Stores) -> None:
    emails = stores.emails
    assert await emails.next_due() is None
    assert await emails.enqueue(_email("m1"))
    assert not await emails.enqueue(_email("m1"))
    assert await emails.enqueue(_email("m2"))
    now = utc_now() + timedelta(seconds=1)
    assert [(e.id, n) for e, n in await emails.due(now, 10)] == [("m1", 0), ("m2", 0)]
    retry = now + timedelta(minutes=5)
    await emails.failed("m1", 1, retry, "down")
    await emails.failed("m1", 1, retry + timedelta(hours=1), "again")  # the same attempt twice: once
    assert [e.id for e, _ in await emails.due(now, 10)] == ["m2"]
    assert [(e.id, n) for e, n in await emails.due(retry, 10)] == [("m2", 0), ("m1", 1)]
    await emails.sent("m2", 1, now)
    await emails.failed("m2", 2, retry, "late")  # after a success: nothing
    assert [e.id for e, _ in await emails.due(retry + timedelta(days=1), 10)] == ["m1"]
    assert await emails.next_due() == retry
    assert len(await emails.due(retry, 1)) == 1


# --- read models -------------------------------------------------------------------------------------


async def test_memberships_keep_roles_join_times_and_leavers(stores: Stores) -> None:
    m = stores.memberships
    await m.joined("c1", "ann", "member", T0)
    await m.joined("c1", "own", "owner", T0)
    await m.joined("c1", "mod", "moderator", T0)
    await m.joined("c2", "ann", "champion", T0 + timedelta(days=1))
    await m.role_changed("c1", "ann", "moderator", T0 + timedelta(days=2))
    await m.role_changed("c3", "zed", "owner", T0 + timedelta(days=3))  # the grant overtook the join
    got = await m.get("c1", "ann")
    assert got is not None
    assert (got.role, got.join_time) == ("moderator", T0)
    zed = await m.get("c3", "zed")
    assert zed is not None
    assert zed.join_time == T0 + timedelta(days=3)
    assert sorted((x.community_id, x.join_time) for x in await m.of_member("ann")) == [
        ("c1", T0),
        ("c2", T0 + timedelta(days=1)),
    ]
    assert await m.with_roles("c1", ("moderator", "owner"), 10) == ["ann", "mod", "own"]
    assert await m.with_roles("c1", ("moderator", "owner"), 2) == ["ann", "mod"]
    assert await m.members_among("c1", ["ann", "zed", "own"]) == {"ann", "own"}
    await m.left("c1", "ann")
    assert await m.get("c1", "ann") is None
    assert [x.community_id for x in await m.of_member("ann")] == ["c2"]
    assert await m.with_roles("c1", ("moderator",), 10) == ["mod"]


async def test_the_newest_interest_wins(stores: Stores) -> None:
    i = stores.interests
    await i.followed("ann", "python", T0 + timedelta(minutes=2))
    await i.unfollowed("ann", "python", T0 + timedelta(minutes=1))  # older: dropped
    await i.followed("bob", "python", T0)
    await i.unfollowed("bob", "python", T0 + timedelta(minutes=1))
    await i.followed("cat", "go", T0)
    await i.expertise("dan", ["python", "sql"], T0 + timedelta(minutes=5))
    await i.expertise("dan", ["rust"], T0)  # older: dropped
    await i.expertise("eve", ["sql"], T0)
    await i.expertise("eve", ["go"], T0 + timedelta(minutes=1))
    found = await i.interested(["python", "sql"])
    assert {m: sorted(t) for m, t in found.items()} == {"ann": ["python"], "dan": ["python", "sql"]}
    assert await i.interested([]) == {}


async def test_nudges_are_pending_until_sent_or_cancelled(stores: Stores) -> None:
    n = stores.nudges
    now = utc_now()

    def nudge(question: str, due: timedelta) -> QuestionNudge:
        return QuestionNudge(question, "c1", f"T {question}", "ann", now, now + due)

    await n.schedule(nudge("q1", timedelta(minutes=-1)))
    await n.schedule(nudge("q1", timedelta(hours=5)))  # again: the first stands
    await n.schedule(nudge("q2", timedelta(minutes=-2)))
    await n.schedule(nudge("q3", timedelta(hours=1)))
    await n.cancel("q4", now)  # the answer overtook its question
    await n.schedule(nudge("q4", timedelta(minutes=-3)))
    assert [x.question_id for x in await n.due(now, 10)] == ["q2", "q1"]
    assert [x.question_id for x in await n.due(now, 1)] == ["q2"]
    assert not await n.still_pending("q4")
    assert await n.next_due() == now - timedelta(minutes=2)
    await n.cancel("q2", now)
    await n.sent("q2", now)  # cancelled stays cancelled
    await n.sent("q1", now)
    await n.cancel("q1", now)  # sent stays sent
    assert not await n.still_pending("q1")
    assert not await n.still_pending("q2")
    assert await n.still_pending("q3")
    assert await n.due(now, 10) == []
    assert await n.next_due() == now + timedelta(hours=1)


# --- broadcasts and digests --------------------------------------------------------------------------


def _broadcast(
    broadcast_id: str,
    community: str = "c1",
    minutes: int = 0,
    type: NotificationType = NotificationType.BROADCAST,
) -> Broadcast:
    return Broadcast(
        id=broadcast_id,
        community_id=community,
        author_id="own",
        text=f"Notice {broadcast_id}",
        subject_id="",
        create_time=T0 + timedelta(minutes=minutes),
        type=type,
    )


async def test_broadcasts_are_numbered_once_each(stores: Stores) -> None:
    b = stores.broadcasts
    assert await b.last_sequence() == 0
    first = await b.create(_broadcast("b1"))
    again = await b.create(_broadcast("b1", minutes=9))  # a retried create returns the stored one
    assert (first.sequence, again.sequence, again.create_time) == (1, 1, T0)
    second = await b.create(_broadcast("b2", "c2", 1))
    assert second.sequence == 2
    assert await b.last_sequence() == 2


async def test_broadcasts_are_seen_from_joining_with_per_member_read_state(stores: Stores) -> None:
    b = stores.broadcasts
    for i in range(4):
        await b.create(_broadcast(f"b{i}", minutes=10 * i))
    await b.create(_broadcast("other", "c2", 5))
    await b.create(_broadcast("survey", minutes=35, type=NotificationType.SURVEY_OPENED))
    ann = {"c1": T0 + timedelta(minutes=10)}  # joined after b0
    newest = ["survey", "b3", "b2", "b1"]
    got = await b.after("ann", ann, False, 10, None)
    assert [x.id for x, _ in got] == newest
    assert [
        x.id for x, _ in await b.after("ann", ann, False, 10, None, hidden=frozenset({"survey_opened"}))
    ] == [
        "b3",
        "b2",
        "b1",
    ]
    page = await b.after("ann", ann, False, 2, None)
    last = page[-1][0]
    rest = await b.after("ann", ann, False, 10, (last.create_time, last.notification_id))
    assert [x.id for x, _ in page + rest] == newest
    ids = [f"broadcast:{i}" for i in ("b0", "b1", "b2", "other")]
    assert await b.visible_ids(ann, ids) == {"broadcast:b1", "broadcast:b2"}
    assert await b.unread_count("ann", ann) == 4
    assert await b.mark_read("ann", ann, ids) == 2
    assert await b.mark_read("ann", ann, ids) == 0
    assert await b.unread_count("ann", ann) == 2
    assert await b.unread_count("bob", ann) == 4  # read state is the member's own
    assert [(x.id, read) for x, read in await b.after("ann", ann, False, 10, None)] == [
        ("survey", False),
        ("b3", False),
        ("b2", True),
        ("b1", True),
    ]
    assert [x.id for x, _ in await b.after("ann", ann, True, 10, None)] == ["survey", "b3"]
    assert await b.mark_all_read("ann", ann) == 2
    assert await b.unread_count("ann", ann) == 0
    assert await b.after("ann", ann, True, 10, None) == []
    later = await b.create(_broadcast("b9", minutes=24 * 60 * 365 * 10))  # after the read-all mark
    assert await b.unread_count("ann", ann) == 1
    assert [x.id for x, _ in await b.after("ann", ann, True, 10, None)] == [later.id]
    assert await b.after("ann", {}, False, 10, None) == []


async def test_broadcasts_stream_in_sequence_order_within_a_range(stores: Stores) -> None:
    b = stores.broadcasts
    for i, community in enumerate(["c1", "c2", "c1", "c1", "c2"]):
        await b.create(_broadcast(f"b{i}", community, minutes=i))
    view = {"c1": T0}
    assert [(x.id, x.sequence) for x, _ in await b.stream_after("ann", view, 0, 5, 10)] == [
        ("b0", 1),
        ("b2", 3),
        ("b3", 4),
    ]
    assert [x.id for x, _ in await b.stream_after("ann", view, 1, 3, 10)] == ["b2"]
    assert [x.id for x, _ in await b.stream_after("ann", view, 0, 5, 1)] == ["b0"]
    assert await b.stream_after("ann", view, 4, 4, 10) == []
    assert await b.stream_after("ann", {}, 0, 5, 10) == []
    await b.mark_read("ann", view, ["broadcast:b2"])
    assert [read for _, read in await b.stream_after("ann", view, 0, 5, 10)] == [False, True, False]


async def test_content_is_kept_once_and_read_by_period(stores: Stores) -> None:
    feed, runs = stores.feed, stores.runs
    for i, community in enumerate(["c1", "c2", "c1", "c3"]):
        item = ContentItem(f"question:q{i}", community, "question", f"Q{i}", "ann", T0 + timedelta(hours=i))
        await feed.record(item)
    await feed.record(ContentItem("question:q0", "c1", "question", "changed", "ann", T0))
    found = await feed.in_period(["c1", "c2"], T0, T0 + timedelta(hours=2), 10)
    assert [(i.id, i.title) for i in found] == [("question:q0", "Q0"), ("question:q1", "Q1")]
    assert [i.id for i in await feed.in_period(["c1", "c3"], T0, T0 + timedelta(days=1), 2)] == [
        "question:q0",
        "question:q2",
    ]
    period = Period(DigestFrequency.DAILY, "2026-01-05", T0, T0 + timedelta(days=1))
    assert not await runs.done(period)
    await runs.mark_done(period, 3)
    await runs.mark_done(period, 3)
    assert await runs.done(period)
    assert not await runs.done(Period(DigestFrequency.WEEKLY, "2026-01-05", T0, T0))


# --- webhooks ----------------------------------------------------------------------------------------


def _webhook(
    webhook_id: str, owner: str = "hr", seconds: int = 0, types: tuple[str, ...] = ("t.a",)
) -> Webhook:
    return Webhook(
        webhook_id, owner, "https://hooks.example.com/x", types, "secret", T0 + timedelta(seconds=seconds)
    )


async def test_webhooks_are_created_once_and_paged_oldest_first(stores: Stores) -> None:
    w = stores.webhooks
    for i in range(5):
        await w.create(_webhook(f"w{i}", seconds=i, types=("t.a", "t.b") if i % 2 else ("t.a",)))
    again = await w.create(Webhook("w0", "hr", "https://other.example.com", ("t.c",), "other", T0))
    assert (again.url, again.secret) == ("https://hooks.example.com/x", "secret")
    await w.create(_webhook("x1", owner="lms"))
    seen: list[str] = []
    token = ""
    while True:
        page, token = await w.page("hr", 2, token)
        seen += [x.id for x in page]
        if not token:
            break
    assert seen == ["w0", "w1", "w2", "w3", "w4"]
    assert sorted(x.id for x in await w.subscribed("t.b")) == ["w1", "w3"]
    await w.delete("w1")
    assert await w.get("w1") is None
    assert sorted(x.id for x in await w.subscribed("t.b")) == ["w3"]
    with pytest.raises(InvalidArgument):
        await w.page("hr", 2, "forged")


def _delivery(delivery_id: str, webhook: str = "w1", *, at: datetime) -> Delivery:
    return Delivery(
        delivery_id, webhook, "hr", f"e-{delivery_id}", "t.a", "{}", DeliveryState.PENDING, at, at
    )


async def test_deliveries_are_claimed_by_one_sweep_and_replayed(stores: Stores) -> None:
    d = stores.deliveries
    now = utc_now()
    for i in range(4):
        assert await d.enqueue(_delivery(f"d{i}", "w1" if i < 3 else "w2", at=now + timedelta(seconds=i)))
    assert not await d.enqueue(_delivery("d0", at=now))
    later = now + timedelta(minutes=1)
    assert [x.id for x in await d.due(later, 10)] == ["d0", "d1", "d2", "d3"]
    assert [x.id for x in await d.due(later, 10, ["w1"])] == ["d3"]
    assert await d.next_due(["w1"]) == now + timedelta(seconds=3)
    d0 = await d.get("d0")
    assert d0 is not None
    assert await d.claim(d0, later, later + timedelta(seconds=30))
    assert not await d.claim(d0, later, later + timedelta(seconds=30))  # taken already
    assert [x.id for x in await d.due(later, 10)] == ["d1", "d2", "d3"]
    attempt = Attempt(1, later, 503, "HTTP 503", 12)
    await d.record("d0", attempt, DeliveryState.DEAD, later, 1)
    dead = await d.get("d0")
    assert dead is not None
    assert (dead.state, dead.attempts, dead.round_attempts) == (
        DeliveryState.DEAD,
        (attempt,),
        1,
    )
    replayed = await d.replay("d0", later)
    assert (replayed.state, replayed.round_attempts, replayed.attempts) == (
        DeliveryState.PENDING,
        0,
        (attempt,),
    )
    seen: list[str] = []
    token = ""
    while True:
        page, token = await d.page("w1", 2, token)
        seen += [x.id for x in page]
        if not token:
            break
    assert seen == ["d2", "d1", "d0"]  # newest first


# --- learning records --------------------------------------------------------------------------------


async def test_statements_are_queued_per_endpoint_and_settled_by_their_claim(stores: Stores) -> None:
    q = stores.statements
    now = utc_now()
    assert await q.enqueue(["lrs1", "lrs2"], "s1", '{"id":"s1"}', now) == 2
    assert await q.enqueue(["lrs1", "lrs2"], "s1", '{"id":"s1"}', now) == 0
    assert await q.enqueue(["lrs1"], "s2", '{"id":"s2"}', now + timedelta(seconds=1)) == 1
    assert await q.next_due("lrs1") == now
    lease = timedelta(seconds=30)
    claimed = await q.claim("lrs1", now + timedelta(seconds=1), 10, lease)
    assert [s.statement_id for s in claimed] == ["s1", "s2"]
    assert await q.claim("lrs1", now + timedelta(seconds=2), 10, lease) == []  # held by the claim
    late = now + timedelta(minutes=1)  # the lease ran out: another takes them
    again = await q.claim("lrs1", late, 1, lease)
    assert [s.statement_id for s in again] == ["s1"]
    settled = late + timedelta(seconds=1)
    # The first claim no longer holds s1: only its outcome for s2 counts.
    await q.settle([Outcome(s, StatementState.SENT, 1, settled) for s in claimed], settled)
    await q.settle(
        [Outcome(again[0], StatementState.PENDING, 1, late + timedelta(hours=1), "HTTP 500")], settled
    )
    assert await q.next_due("lrs1") == late + timedelta(hours=1)
    retried = await q.claim("lrs1", late + timedelta(hours=1), 10, lease)
    assert [(s.statement_id, s.attempts) for s in retried] == [("s1", 1)]
    assert [s.statement_id for s in await q.claim("lrs2", now, 10, lease)] == ["s1"]

"""New questions reach the followers and experts of their tags; unanswered ones reach champions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo import AsyncMongoClient
from services.notify.tests.support import Events, wait_for_inbox

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild.notify.v1 import notification_pb2 as pb
from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild_common.mongo import Document
from guild_common.settings import ServiceSettings
from guild_common.tags import normalise_tags
from guild_notify.adapters.broadcasts_store import MongoMemberships
from guild_notify.adapters.email_store import MongoEmailOutbox
from guild_notify.adapters.inbox_store import MongoInbox
from guild_notify.adapters.nudges_store import MongoNudges
from guild_notify.adapters.preferences_store import MongoPreferences
from guild_notify.app.live import LiveStreams
from guild_notify.app.notifier import Notifier
from guild_notify.app.questions import UnansweredNudges
from guild_notify.app.unsubscribe import UnsubscribeTokens
from guild_notify.bootstrap import build
from guild_notify.config import NotifySettings
from guild_notify.domain.notifications import Notification
from guild_notify.domain.questions import (
    QuestionNudge,
    new_question_in_tag,
    unanswered_nudges,
)
from guild_testing.fixtures import auth
from guild_testing.inprocess import running_service

TAG_QUESTION = pb.NOTIFICATION_TYPE_NEW_QUESTION_IN_TAG
UNANSWERED = pb.NOTIFICATION_TYPE_UNANSWERED_QUESTION


async def _inbox(stub: api_grpc.NotifyServiceStub, who: str) -> list[pb.Notification]:
    response = await stub.ListNotifications(api.ListNotificationsRequest(page_size=100), metadata=auth(who))
    return list(response.notifications)


async def _handled(events: Events, stub: api_grpc.NotifyServiceStub, marker: str) -> None:
    """Every content and community event emitted before this returns has been handled."""
    await events.emit(
        "content",
        "answer_posted",
        content.AnswerPosted(
            answer_id=marker, question_id=f"q-{marker}", author_id="x", question_author_id=marker
        ),
    )
    await events.emit(
        "community",
        "role_granted",
        community.RoleGranted(community_id="c9", member_id=f"{marker}-c", role="champion", granted_by="x"),
    )
    await wait_for_inbox(stub, marker, 1)
    await wait_for_inbox(stub, f"{marker}-c", 1)


async def _asked(events: Events, question_id: str, author: str, tags: list[str], title: str = "T") -> None:
    await events.emit(
        "content",
        "question_asked",
        content.QuestionAsked(
            question_id=question_id, community_id="c1", author_id=author, title=title, tags=tags
        ),
    )


def test_expertise_tags_are_normalised_as_content_does() -> None:
    assert normalise_tags(["  Python Tips ", "python  tips", "SQL", " ", "Go\tlang"]) == [
        "python-tips",
        "sql",
        "go-lang",
    ]


async def test_new_questions_reach_followers_and_experts_of_their_tags(
    stub: api_grpc.NotifyServiceStub, events: Events
) -> None:
    for member in ("ann", "bob", "dan", "eve", "fay", "gus", "hal"):
        await events.emit(
            "community", "member_joined", community.MemberJoined(community_id="c1", member_id=member)
        )
    await events.emit(
        "community", "member_joined", community.MemberJoined(community_id="c2", member_id="cat")
    )
    for member, tag in [("ann", "python"), ("cat", "python"), ("dan", "python"), ("eve", "python")]:
        await events.emit("content", "tag_followed", content.TagFollowed(member_id=member, tag=tag))
    for member in ("fay", "hal"):
        await events.emit("content", "tag_followed", content.TagFollowed(member_id=member, tag="python"))
    await events.emit("content", "tag_followed", content.TagFollowed(member_id="gus", tag="go"))
    await events.emit("content", "tag_unfollowed", content.TagUnfollowed(member_id="eve", tag="python"))
    # bob declares expertise the way people type it; a later profile change takes another tag away.
    await events.emit(
        "community",
        "profile_updated",
        community.ProfileUpdated(member_id="bob", expertise=["  Python Tips ", "Rust"]),
    )
    await events.emit(
        "community", "profile_updated", community.ProfileUpdated(member_id="gus", expertise=["SQL"])
    )
    await events.emit(
        "community", "profile_updated", community.ProfileUpdated(member_id="gus", expertise=["Go"])
    )
    await stub.UpdatePreferences(
        api.UpdatePreferencesRequest(
            preferences=pb.Preferences(muted_community_ids=["c1"]),
            update_mask=FieldMask(paths=["muted_community_ids"]),
        ),
        metadata=auth("fay"),
    )
    await stub.UpdatePreferences(
        api.UpdatePreferencesRequest(
            preferences=pb.Preferences(
                channels=[pb.ChannelPreference(type=TAG_QUESTION, in_app=False, email=False)]
            ),
            update_mask=FieldMask(paths=["channels"]),
        ),
        metadata=auth("hal"),
    )
    await _handled(events, stub, "m1")

    await events.emit(
        "content",
        "question_asked",
        content.QuestionAsked(
            question_id="q1",
            community_id="c1",
            author_id="dan",
            title="Typing a decorator?",
            tags=["python", "python-tips"],
        ),
    )
    asked = await events.emit(
        "content",
        "question_asked",
        content.QuestionAsked(
            question_id="q2", community_id="c1", author_id="ann", title="Which linter?", tags=["sql"]
        ),
    )
    await events.redeliver(asked, "again")
    await _handled(events, stub, "m2")

    ann = await _inbox(stub, "ann")
    assert [(n.type, n.subject_id, n.actor_id, n.text) for n in ann] == [
        (TAG_QUESTION, "q1", "dan", "New question tagged python: \u201cTyping a decorator?\u201d")
    ]
    bob = await _inbox(stub, "bob")
    assert [(n.subject_id, n.text) for n in bob] == [
        ("q1", "New question tagged python-tips: \u201cTyping a decorator?\u201d")
    ]
    assert await _inbox(stub, "cat") == []  # follows python, but not a member of c1
    assert await _inbox(stub, "dan") == []  # the asker
    assert await _inbox(stub, "eve") == []  # unfollowed
    assert await _inbox(stub, "fay") == []  # muted c1
    assert await _inbox(stub, "gus") == []  # no longer an SQL expert
    assert await _inbox(stub, "hal") == []  # turned these off


async def test_unanswered_questions_reach_champions_once(
    settings_for: Callable[..., ServiceSettings], events: Events
) -> None:
    settings = settings_for(
        NotifySettings, unanswered_after_seconds=0.6, nudge_sweep_seconds=0.1, nudge_settle_seconds=0.2
    )
    async with running_service(settings, build) as running:
        stub = api_grpc.NotifyServiceStub(running.channel)
        for member, role in [
            ("ch1", "champion"),
            ("ch2", "champion"),
            ("ch3", "champion"),
            ("ann", "member"),
        ]:
            await events.emit(
                "community",
                "member_joined",
                community.MemberJoined(community_id="c1", member_id=member, role=role),
            )
        await events.emit(
            "community",
            "role_revoked",
            community.RoleRevoked(community_id="c1", member_id="ch3", role="champion", current_role="member"),
        )
        await _handled(events, stub, "m1")
        await _asked(events, "q1", "ch2", ["python"], title="Nobody knows?")
        await _asked(events, "q2", "ann", ["python"])
        await events.emit(
            "content",
            "answer_posted",
            content.AnswerPosted(answer_id="a1", question_id="q2", author_id="ch2", question_author_id="ann"),
        )
        # An answer that overtakes its question still cancels the nudge.
        await events.emit(
            "content",
            "answer_posted",
            content.AnswerPosted(answer_id="a2", question_id="q3", author_id="ch1", question_author_id="ann"),
        )
        await _asked(events, "q3", "ann", [])
        await _asked(events, "q4", "ann", [])
        await _asked(events, "q5", "ann", [])
        await events.emit(
            "content",
            "post_removed",
            content.PostRemoved(post_id="q5", kind="question", community_id="c1", author_id="ann"),
        )

        ch1 = await wait_for_inbox(stub, "ch1", 2)
        assert sorted((n.type, n.subject_id) for n in ch1.notifications) == [
            (UNANSWERED, "q1"),
            (UNANSWERED, "q4"),
        ]
        q1 = next(n for n in ch1.notifications if n.subject_id == "q1")
        assert q1.text == "\u201cNobody knows?\u201d has no answer yet: can you help?"
        ch2 = await wait_for_inbox(stub, "ch2", 1)
        assert [n.subject_id for n in ch2.notifications] == ["q4"]  # not nudged about their own
        assert await _inbox(stub, "ch3") == []  # no longer a champion
        assert [n.type for n in await _inbox(stub, "ann")] == [pb.NOTIFICATION_TYPE_NEW_ANSWER] * 2

    # As if the process had stopped between notifying and recording the nudge as sent.
    client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
    try:
        nudges = client[settings.database_name]["question_nudges"]
        assert await nudges.count_documents({"status": "sent"}) == 2
        cancelled = {"_id": {"$in": ["q2", "q3", "q5"]}, "status": "cancelled"}
        assert await nudges.count_documents(cancelled) == 3
        await nudges.update_many({"status": "sent"}, {"$set": {"status": "pending"}})
        async with running_service(settings, build) as running:
            stub = api_grpc.NotifyServiceStub(running.channel)
            deadline = asyncio.get_running_loop().time() + 10
            while await nudges.count_documents({"status": "pending"}):
                assert asyncio.get_running_loop().time() < deadline, "the nudges were not swept again"
                await asyncio.sleep(0.05)
            assert len(await _inbox(stub, "ch1")) == 2
            assert len(await _inbox(stub, "ch2")) == 1
    finally:
        await client.close()


def test_nudges_and_tag_notices_skip_the_asker_and_repeat_no_one() -> None:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    nudge = QuestionNudge("q1", "c1", "Why?", "ann", now, now + timedelta(hours=24))
    notes = unanswered_nudges(nudge, ["ch1", "ann", "ch1", "", "ch2"], now)
    assert [n.id for n in notes] == [
        "unanswered-q1:ch1:unanswered_question",
        "unanswered-q1:ch2:unanswered_question",
    ]
    tagged = new_question_in_tag(
        event_id="e1",
        question_id="q1",
        title="Why?",
        community_id="c1",
        asker_id="ann",
        interested={"bob": "go", "ann": "go"},
        time=now,
    )
    assert [(n.recipient_id, n.text) for n in tagged] == [("bob", "New question tagged go: \u201cWhy?\u201d")]


async def test_a_question_replayed_after_its_delay_is_nudged_only_if_no_answer_follows_it(
    settings_for: Callable[..., ServiceSettings], events: Events
) -> None:
    # After a consumer backlog longer than the delay, questions arrive already overdue: the answers
    # behind them in the backlog still come before the nudge.
    settings = settings_for(
        NotifySettings, unanswered_after_seconds=0.01, nudge_sweep_seconds=0.1, nudge_settle_seconds=2.0
    )
    async with running_service(settings, build) as running:
        stub = api_grpc.NotifyServiceStub(running.channel)
        await events.emit(
            "community",
            "member_joined",
            community.MemberJoined(community_id="c1", member_id="ch1", role="champion"),
        )
        await _handled(events, stub, "m1")
        an_hour_ago = Timestamp()
        an_hour_ago.FromDatetime(datetime.now(UTC) - timedelta(hours=1))
        for question_id in ("q1", "q2"):
            await events.emit(
                "content",
                "question_asked",
                content.QuestionAsked(
                    question_id=question_id,
                    community_id="c1",
                    author_id="ann",
                    title=question_id,
                    create_time=an_hour_ago,
                ),
            )
        await _handled(events, stub, "m2")
        await asyncio.sleep(0.5)  # the answer is further down the backlog
        await events.emit(
            "content",
            "answer_posted",
            content.AnswerPosted(answer_id="a1", question_id="q1", author_id="bob", question_author_id="ann"),
        )
        ch1 = await wait_for_inbox(stub, "ch1", 1)
        assert [(n.type, n.subject_id) for n in ch1.notifications] == [(UNANSWERED, "q2")]


async def test_a_nudge_stops_at_the_answer_handled_while_champions_are_told(
    settings_for: Callable[..., ServiceSettings],
) -> None:
    settings = settings_for(NotifySettings)
    client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
    try:
        db = client[settings.database_name]
        nudges, memberships, inbox = MongoNudges(db), MongoMemberships(db), MongoInbox(db)
        now = datetime.now(UTC)
        for champion in ("ch1", "ch2", "ch3"):
            await memberships.joined("c1", champion, "champion", now)
        await nudges.schedule(
            QuestionNudge(
                question_id="q1", community_id="c1", title="T", author_id="ann", ask_time=now, due_time=now
            )
        )

        class AnsweredMeanwhile(Notifier):
            """The question's answer is handled right after the first champion is told."""

            async def deliver(self, n: Notification, *, in_app_allowed: bool = True) -> None:
                await super().deliver(n, in_app_allowed=in_app_allowed)
                await nudges.cancel("q1", datetime.now(UTC))

        notifier = AnsweredMeanwhile(
            inbox, MongoPreferences(db), LiveStreams(), MongoEmailOutbox(db), UnsubscribeTokens("s"), "u"
        )
        await UnansweredNudges(nudges, memberships, notifier, sweep_seconds=1).sweep()
        told = [d["recipient_id"] async for d in db["notifications"].find({"subject_id": "q1"})]
        assert told == ["ch1"]
        assert not await nudges.still_pending("q1")
    finally:
        await client.close()

"""Badges, comments, mentions, moderation outcomes, flags to moderators, join requests to owners,
surveys and new resources: one test per notification type."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from pymongo import AsyncMongoClient
from services.notify.tests.support import Events, smtp_server, wait_for_inbox

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild.events.v1 import reputation_events_pb2 as reputation
from guild.notify.v1 import notification_pb2 as pb
from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild_common.clock import utc_now
from guild_common.mongo import Document
from guild_common.settings import ServiceSettings
from guild_notify.adapters.broadcasts_store import MongoMemberships
from guild_notify.adapters.digests_store import MongoContentFeed, MongoDigestRuns
from guild_notify.adapters.email_store import MongoEmailOutbox
from guild_notify.adapters.preferences_store import MongoPreferences
from guild_notify.app.digests import DigestRunner
from guild_notify.app.unsubscribe import UnsubscribeTokens
from guild_notify.bootstrap import build
from guild_notify.config import NotifySettings
from guild_notify.domain.digests import last_complete_period
from guild_notify.domain.preferences import DigestFrequency
from guild_testing.calendar import clear_of_midnight
from guild_testing.fixtures import auth
from guild_testing.inprocess import running_service


async def _members(events: Events, stub: api_grpc.NotifyServiceStub, members: dict[str, str]) -> None:
    """Join ``members`` (id -> role) to c1, then wait until the read model has them all."""
    for member, role in members.items():
        await events.emit(
            "community",
            "member_joined",
            community.MemberJoined(community_id="c1", member_id=member, role=role),
        )
    await events.emit(
        "community",
        "role_granted",
        community.RoleGranted(community_id="c9", member_id="marker", role="champion", granted_by="x"),
    )
    await wait_for_inbox(stub, "marker", 1)


async def _inbox(stub: api_grpc.NotifyServiceStub, who: str) -> list[pb.Notification]:
    response = await stub.ListNotifications(api.ListNotificationsRequest(page_size=100), metadata=auth(who))
    return list(response.notifications)


async def _end_marker(events: Events, stub: api_grpc.NotifyServiceStub) -> None:
    """Every content event emitted before this returns has been handled."""
    await events.emit(
        "content",
        "answer_posted",
        content.AnswerPosted(answer_id="end", question_id="q-end", author_id="x", question_author_id="end"),
    )
    await wait_for_inbox(stub, "end", 1)


async def test_badge_earned_reaches_the_member(stub: api_grpc.NotifyServiceStub, events: Events) -> None:
    award = reputation.BadgeAwarded(
        award_id="aw1",
        community_id="c1",
        member_id="ann",
        badge="first_answer",
        title="First answer",
        citation="for your first accepted answer",
    )
    first = await events.emit("reputation", "badge_awarded", award)
    await events.redeliver(first, "again")
    [n] = (await wait_for_inbox(stub, "ann", 1)).notifications
    assert n.type == pb.NOTIFICATION_TYPE_BADGE_EARNED
    assert n.text == "You earned the badge \u201cFirst answer\u201d: for your first accepted answer"
    assert n.subject_id == "aw1"
    await events.emit("reputation", "badge_awarded", reputation.BadgeAwarded(award_id="aw2", member_id="ann"))
    assert len((await wait_for_inbox(stub, "ann", 2)).notifications) == 2  # the redelivery counted once


async def test_comment_on_my_post_reaches_its_author(
    stub: api_grpc.NotifyServiceStub, events: Events
) -> None:
    def comment(comment_id: str, author: str) -> content.CommentPosted:
        return content.CommentPosted(
            comment_id=comment_id,
            post_id="q1",
            post_kind="question",
            question_id="q1",
            community_id="c1",
            author_id=author,
            post_author_id="ann",
        )

    await events.emit("content", "comment_posted", comment("k1", "ann"))  # her own: nothing
    await events.emit("content", "comment_posted", comment("k2", "bob"))
    await events.emit("content", "comment_posted", comment("k3", "cat"))
    await _end_marker(events, stub)
    ann = await _inbox(stub, "ann")
    assert sorted((n.actor_id, n.text) for n in ann) == [
        ("bob", "bob commented on your question"),
        ("cat", "cat commented on your question"),
    ]
    assert {n.type for n in ann} == {pb.NOTIFICATION_TYPE_NEW_COMMENT}
    assert len({n.group_key for n in ann}) == 1  # both about q1


async def test_mentions_reach_the_mentioned(stub: api_grpc.NotifyServiceStub, events: Events) -> None:
    for mentioned in ("ann", "bob"):
        await events.emit(
            "content",
            "mention_made",
            content.MentionMade(
                mentioned_id=mentioned, post_id="a1", kind="answer", community_id="c1", author_id="bob"
            ),
        )
    [n] = (await wait_for_inbox(stub, "ann", 1)).notifications
    assert (n.type, n.actor_id, n.text) == (
        pb.NOTIFICATION_TYPE_MENTION,
        "bob",
        "bob mentioned you in a answer",
    )
    await _end_marker(events, stub)
    assert await _inbox(stub, "bob") == []  # mentioning yourself is not news


async def test_moderation_outcome_reaches_the_author(
    stub: api_grpc.NotifyServiceStub, events: Events
) -> None:
    await events.emit(
        "content",
        "post_hidden",
        content.PostHidden(
            post_id="a1", kind="answer", community_id="c1", author_id="ann", hidden_by="mod1", reason="spam?"
        ),
    )
    await events.emit(
        "content",
        "post_restored",
        content.PostRestored(
            post_id="a1", kind="answer", community_id="c1", author_id="ann", restored_by="mod1"
        ),
    )
    await events.emit(
        "content",
        "post_hidden",
        content.PostHidden(post_id="a2", kind="answer", community_id="c1", author_id="ann", hidden_by="ann"),
    )
    await _end_marker(events, stub)
    ann = {n.type: n.text for n in await _inbox(stub, "ann")}
    assert ann == {
        pb.NOTIFICATION_TYPE_POST_HIDDEN: "Your answer was hidden: spam?",
        pb.NOTIFICATION_TYPE_POST_RESTORED: "Your answer was restored",
    }


async def test_flagged_content_reaches_the_moderators(
    stub: api_grpc.NotifyServiceStub, events: Events
) -> None:
    await _members(events, stub, {"mod1": "moderator", "own1": "owner", "ann": "member", "mod2": "moderator"})
    flagged = await events.emit(
        "content",
        "post_flagged",
        content.PostFlagged(
            post_id="q1", kind="question", community_id="c1", author_id="mod2", reason="rude", flag_count=1
        ),
    )
    await events.redeliver(flagged, "again")
    await events.emit(
        "content",
        "post_hidden",
        content.PostHidden(
            post_id="q1", kind="question", community_id="c1", author_id="mod2", by_flags=True, flag_count=3
        ),
    )
    await _end_marker(events, stub)
    for moderator in ("mod1", "own1"):
        texts = sorted(n.text for n in await _inbox(stub, moderator))
        assert texts == [
            "A question was flagged (1 flag): rude",
            "A question was hidden after 3 flags: please review it",
        ]
    assert await _inbox(stub, "ann") == []
    # The flagged author hears only that their post was hidden, not the moderators' review notice.
    assert [n.type for n in await _inbox(stub, "mod2")] == [pb.NOTIFICATION_TYPE_POST_HIDDEN]


async def test_join_requests_reach_the_owners(stub: api_grpc.NotifyServiceStub, events: Events) -> None:
    await _members(events, stub, {"own1": "owner", "own2": "owner", "mod1": "moderator"})
    await events.emit(
        "community", "join_requested", community.JoinRequested(community_id="c1", member_id="zed")
    )
    for owner in ("own1", "own2"):
        [n] = (await wait_for_inbox(stub, owner, 1)).notifications
        assert (n.type, n.actor_id, n.text) == (
            pb.NOTIFICATION_TYPE_JOIN_REQUESTED,
            "zed",
            "zed asks to join your community",
        )
    assert await _inbox(stub, "mod1") == []


async def test_surveys_are_stored_once_and_seen_by_every_member(
    settings_for: Callable[..., ServiceSettings], events: Events
) -> None:
    settings = settings_for(NotifySettings)
    async with running_service(settings, build) as running:
        stub = api_grpc.NotifyServiceStub(running.channel)
        await _members(events, stub, {"ann": "member", "bob": "member", "own1": "owner"})
        opened = await events.emit(
            "community",
            "survey_opened",
            community.SurveyOpened(survey_id="s1", community_id="c1", title="Pulse check", opened_by="own1"),
        )
        await events.redeliver(opened, "again")
        for member in ("ann", "bob"):
            [n] = (await wait_for_inbox(stub, member, 1)).notifications
            assert (n.type, n.text, n.subject_id, n.read) == (
                pb.NOTIFICATION_TYPE_SURVEY_OPENED,
                "A survey is open: \u201cPulse check\u201d",
                "s1",
                False,
            )
        assert await _inbox(stub, "zed") == []  # not a member
        client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
        try:
            db = client[settings.database_name]
            assert await db["broadcasts"].count_documents({}) == 1  # one write for the whole community
            assert await db["notifications"].count_documents({"type": "survey_opened"}) == 0
        finally:
            await client.close()


async def test_new_resources_reach_members_in_app_by_email_and_in_digests(
    settings_for: Callable[..., ServiceSettings], events: Events, unused_tcp_port: int
) -> None:
    settings = settings_for(
        NotifySettings, smtp_host="127.0.0.1", smtp_port=unused_tcp_port, email_sweep_seconds=0.2
    )
    assert isinstance(settings, NotifySettings)
    # The resource is shared now and digested as today's: both on one UTC day.
    await clear_of_midnight()
    with smtp_server(unused_tcp_port) as mailbox:
        async with running_service(settings, build) as running:
            stub = api_grpc.NotifyServiceStub(running.channel)
            # ann reads new content one by one; bob in a daily digest; cat keeps the defaults.
            await stub.UpdatePreferences(
                api.UpdatePreferencesRequest(
                    preferences=pb.Preferences(
                        email_address="ann@example.com",
                        digest_frequency=pb.DIGEST_FREQUENCY_OFF,
                        channels=[
                            pb.ChannelPreference(
                                type=pb.NOTIFICATION_TYPE_NEW_CONTENT, in_app=True, email=True
                            )
                        ],
                    ),
                    update_mask=FieldMask(paths=["email_address", "digest_frequency", "channels"]),
                ),
                metadata=auth("ann"),
            )
            await stub.UpdatePreferences(
                api.UpdatePreferencesRequest(
                    preferences=pb.Preferences(
                        email_address="bob@example.com", digest_frequency=pb.DIGEST_FREQUENCY_DAILY
                    ),
                    update_mask=FieldMask(paths=["email_address", "digest_frequency"]),
                ),
                metadata=auth("bob"),
            )
            await _members(events, stub, {"ann": "member", "bob": "member", "cat": "member"})
            await events.emit(
                "content",
                "resource_shared",
                content.ResourceShared(
                    resource_id="r1",
                    community_id="c1",
                    author_id="cat",
                    url="https://example.com/guide",
                    title="Onboarding guide",
                ),
            )
            for member in ("ann", "bob", "cat"):
                [n] = (await wait_for_inbox(stub, member, 1)).notifications
                assert (n.type, n.text, n.subject_id) == (
                    pb.NOTIFICATION_TYPE_NEW_CONTENT,
                    "New resource: \u201cOnboarding guide\u201d",
                    "r1",
                )
            [email] = await mailbox.wait_for(1)
            assert email["To"] == "ann@example.com"
            assert "Onboarding guide" in str(email.get_body(("plain",)).get_content())  # type: ignore[union-attr]

            client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
            try:
                db = client[settings.database_name]
                runner = DigestRunner(
                    MongoMemberships(db),
                    MongoPreferences(db),
                    MongoContentFeed(db),
                    MongoDigestRuns(db),
                    MongoEmailOutbox(db),
                    UnsubscribeTokens(settings.unsubscribe_secret),
                    settings.unsubscribe_base_url,
                )
                today = last_complete_period(DigestFrequency.DAILY, utc_now() + timedelta(days=1))
                assert await runner.run(today) == 1
            finally:
                await client.close()
            digest = [m for m in await mailbox.wait_for(2) if m["To"] == "bob@example.com"]
            assert len(digest) == 1
            assert "[resource] Onboarding guide" in str(digest[0].get_body(("plain",)).get_content())  # type: ignore[union-attr]
            assert len(mailbox.messages) == 2


async def test_members_turn_community_notices_off_per_type(
    stub: api_grpc.NotifyServiceStub, events: Events
) -> None:
    await stub.UpdatePreferences(
        api.UpdatePreferencesRequest(
            preferences=pb.Preferences(
                channels=[pb.ChannelPreference(type=pb.NOTIFICATION_TYPE_NEW_CONTENT, in_app=False)]
            ),
            update_mask=FieldMask(paths=["channels"]),
        ),
        metadata=auth("ann"),
    )
    await _members(events, stub, {"ann": "member", "bob": "member"})
    await events.emit(
        "content",
        "resource_shared",
        content.ResourceShared(resource_id="r1", community_id="c1", author_id="bob", title="Guide"),
    )
    await events.emit(
        "community",
        "survey_opened",
        community.SurveyOpened(survey_id="s1", community_id="c1", title="Pulse", opened_by="bob"),
    )
    bob = await wait_for_inbox(stub, "bob", 2)
    assert {n.type for n in bob.notifications} == {
        pb.NOTIFICATION_TYPE_NEW_CONTENT,
        pb.NOTIFICATION_TYPE_SURVEY_OPENED,
    }
    ann = await wait_for_inbox(stub, "ann", 1)
    assert [n.type for n in ann.notifications] == [pb.NOTIFICATION_TYPE_SURVEY_OPENED]
    assert ann.unread_count == 1
    resource_notice = next(n.id for n in bob.notifications if n.type == pb.NOTIFICATION_TYPE_NEW_CONTENT)
    survey = ann.notifications[0].id
    await stub.MarkNotificationsRead(
        api.MarkNotificationsReadRequest(notification_ids=[survey]), metadata=auth("ann")
    )
    assert (await stub.GetUnreadCount(api.GetUnreadCountRequest(), metadata=auth("ann"))).unread_count == 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.MarkNotificationsRead(
            api.MarkNotificationsReadRequest(notification_ids=[resource_notice]), metadata=auth("ann")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await stub.GetUnreadCount(api.GetUnreadCountRequest(), metadata=auth("bob"))).unread_count == 2


async def test_new_articles_and_announcements_reach_members(
    stub: api_grpc.NotifyServiceStub, events: Events
) -> None:
    await _members(events, stub, {"ann": "member", "bob": "member"})
    for post_id, kind, title in [
        ("p1", "discussion", "Lunch?"),
        ("p2", "article", "How we onboard"),
        ("p3", "announcement", "Office closed Friday"),
    ]:
        await events.emit(
            "content",
            "post_created",
            content.PostCreated(post_id=post_id, kind=kind, community_id="c1", author_id="bob", title=title),
        )
    await _end_marker(events, stub)
    ann = await wait_for_inbox(stub, "ann", 2)
    assert sorted((n.type, n.subject_id, n.text) for n in ann.notifications) == [
        (pb.NOTIFICATION_TYPE_NEW_CONTENT, "p2", "New article: \u201cHow we onboard\u201d"),
        (pb.NOTIFICATION_TYPE_NEW_CONTENT, "p3", "New announcement: \u201cOffice closed Friday\u201d"),
    ]
    assert len(ann.notifications) == 2  # the discussion is not announced

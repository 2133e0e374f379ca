"""Digests: new content per community, one email per member and period, over real SMTP."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

from google.protobuf.field_mask_pb2 import FieldMask
from pymongo import AsyncMongoClient
from services.notify.tests.support import Events, smtp_server, wait_for_inbox

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
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


async def _prefs(stub: api_grpc.NotifyServiceStub, who: str, **fields: object) -> None:
    await stub.UpdatePreferences(
        api.UpdatePreferencesRequest(
            preferences=pb.Preferences(**fields),  # type: ignore[arg-type]
            update_mask=FieldMask(paths=list(fields)),
        ),
        metadata=auth(who),
    )


async def test_digests_bundle_new_content_once_per_member_and_period(
    settings_for: Callable[..., ServiceSettings], events: Events, unused_tcp_port: int
) -> None:
    settings = settings_for(
        NotifySettings, smtp_host="127.0.0.1", smtp_port=unused_tcp_port, email_sweep_seconds=0.2
    )
    assert isinstance(settings, NotifySettings)
    # The content is written now and digested as today's and this week's: all in one UTC day.
    await clear_of_midnight()
    with smtp_server(unused_tcp_port) as mailbox:
        async with running_service(settings, build) as running:
            stub = api_grpc.NotifyServiceStub(running.channel)
            for community_id, member, role in [
                ("c1", "ann", "member"),
                ("c2", "ann", "member"),
                ("c1", "bob", "member"),
                ("c1", "cat", "member"),
                ("c2", "dan", "member"),
                ("c1", "olga", "owner"),
            ]:
                await events.emit(
                    "community",
                    "member_joined",
                    community.MemberJoined(community_id=community_id, member_id=member, role=role),
                )
            await events.emit(
                "community",
                "role_granted",
                community.RoleGranted(community_id="c2", member_id="ann", role="champion", granted_by="x"),
            )
            for question_id, community_id, title in [
                ("q1", "c1", "Where is the canteen?"),
                ("q2", "c2", "Muted Q"),
            ]:
                await events.emit(
                    "content",
                    "question_asked",
                    content.QuestionAsked(question_id=question_id, community_id=community_id, title=title),
                )
            await events.emit(
                "content",
                "answer_posted",
                content.AnswerPosted(answer_id="a", question_id="q", author_id="x", question_author_id="cat"),
            )
            await wait_for_inbox(stub, "ann", 1)
            await wait_for_inbox(stub, "cat", 1)
            await stub.CreateBroadcast(
                api.CreateBroadcastRequest(broadcast=pb.Broadcast(community_id="c1", text="New handbook")),
                metadata=auth("olga"),
            )
            daily, weekly = pb.DIGEST_FREQUENCY_DAILY, pb.DIGEST_FREQUENCY_WEEKLY
            await _prefs(
                stub,
                "ann",
                digest_frequency=daily,
                email_address="ann@example.com",
                muted_community_ids=["c2"],
            )
            await _prefs(stub, "bob", digest_frequency=weekly, email_address="bob@example.com")
            await _prefs(stub, "cat", digest_frequency=daily)  # no address: no email
            await _prefs(stub, "dan", digest_frequency=daily, email_address="dan@example.com")

            client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
            try:
                db = client[settings.database_name]
                runs = MongoDigestRuns(db)
                runner = DigestRunner(
                    MongoMemberships(db),
                    MongoPreferences(db),
                    MongoContentFeed(db),
                    runs,
                    MongoEmailOutbox(db),
                    UnsubscribeTokens(settings.unsubscribe_secret),
                    settings.unsubscribe_base_url,
                )
                today = last_complete_period(DigestFrequency.DAILY, utc_now() + timedelta(days=1))
                assert await runner.run(today) == 2
                # A run that stopped before it was marked done is run again: nobody gets a second digest.
                await db["digest_runs"].delete_many({})
                assert await runner.run(today) == 0
                assert await runs.done(today)
                assert await runner.run(today) == 0

                messages = await mailbox.wait_for(2)
                by_recipient = {m["To"]: m for m in messages}
                assert set(by_recipient) == {"ann@example.com", "dan@example.com"}
                ann = by_recipient["ann@example.com"]
                ann_text = str(ann.get_body(("plain",)).get_content())  # type: ignore[union-attr]
                assert "Where is the canteen?" in ann_text
                assert "New handbook" in ann_text
                assert "Muted Q" not in ann_text  # ann muted c2
                assert ann["Subject"] == f"Your Guild digest: 2 new items ({today.key})"
                dan_text = str(by_recipient["dan@example.com"].get_body(("plain",)).get_content())  # type: ignore[union-attr]
                assert "Muted Q" in dan_text
                assert "canteen" not in dan_text

                this_week = last_complete_period(DigestFrequency.WEEKLY, utc_now() + timedelta(days=7))
                assert await runner.run(this_week) == 1
                [bob] = [m for m in await mailbox.wait_for(3) if m["To"] == "bob@example.com"]
                assert "New handbook" in str(bob.get_body(("plain",)).get_content())  # type: ignore[union-attr]
                await asyncio.sleep(0.5)
                assert len(mailbox.messages) == 3
            finally:
                await client.close()

            link = re.search(r"https://guild\.local/unsubscribe\?token=\S+", ann_text)
            assert link is not None
            token = parse_qs(urlparse(link.group(0)).query)["token"][0]
            done = await stub.Unsubscribe(api.UnsubscribeRequest(token=token), metadata=auth("web"))
            assert done == api.UnsubscribeResponse()
            after = await stub.GetPreferences(api.GetPreferencesRequest(), metadata=auth("ann"))
            assert after.preferences.digest_frequency == pb.DIGEST_FREQUENCY_OFF

"""Email over real SMTP (aiosmtpd on loopback): templates, preferences, unsubscribe, and an outage."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from email.message import EmailMessage
from urllib.parse import parse_qs, urlparse

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from pymongo import AsyncMongoClient
from services.notify.tests.support import Events, smtp_server, wait_for_inbox

from guild.events.v1 import content_events_pb2 as content
from guild.notify.v1 import notification_pb2 as pb
from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild_common.mongo import Document
from guild_common.settings import ServiceSettings
from guild_notify.bootstrap import build
from guild_notify.config import NotifySettings
from guild_testing.fixtures import auth
from guild_testing.inprocess import running_service


def _settings(settings_for: Callable[..., ServiceSettings], port: int) -> ServiceSettings:
    return settings_for(
        NotifySettings,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="Guild <guild@example.com>",
        email_retry_base_seconds=0.2,
        email_retry_max_seconds=0.5,
        email_sweep_seconds=0.5,
    )


async def _set_email(stub: api_grpc.NotifyServiceStub, who: str, address: str) -> None:
    await stub.UpdatePreferences(
        api.UpdatePreferencesRequest(
            preferences=pb.Preferences(email_address=address), update_mask=FieldMask(paths=["email_address"])
        ),
        metadata=auth(who),
    )


def _accepted(answer_id: str, title: str = "How do I book leave?") -> content.AnswerAccepted:
    return content.AnswerAccepted(
        answer_id=answer_id,
        question_id="q1",
        community_id="c1",
        answer_author_id="ann",
        question_author_id="bob",
        accepted_by="bob",
        question_title=title,
    )


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


async def test_email_follows_preferences_and_unsubscribe_turns_it_off(
    settings_for: Callable[..., ServiceSettings], events: Events, unused_tcp_port: int
) -> None:
    with smtp_server(unused_tcp_port) as mailbox:
        async with running_service(_settings(settings_for, unused_tcp_port), build) as running:
            stub = api_grpc.NotifyServiceStub(running.channel)
            await _set_email(stub, "ann", "ann@example.com")
            # New answers are in-app only by default; acceptances also go by email.
            await events.emit(
                "content",
                "answer_posted",
                content.AnswerPosted(
                    answer_id="a0",
                    question_id="q0",
                    community_id="c1",
                    author_id="bob",
                    question_author_id="ann",
                ),
            )
            await events.emit("content", "answer_accepted", _accepted("a1", "Leave & <holidays>"))
            [message] = await mailbox.wait_for(1)
            assert message["To"] == "ann@example.com"
            assert message["Subject"] == "Your answer was accepted"
            text, html = _parts(message)
            assert "Your answer to \u201cLeave & <holidays>\u201d was accepted" in text
            assert "Leave &amp; &lt;holidays&gt;" in html
            link = re.search(r"https://guild\.local/unsubscribe\?token=\S+", text)
            assert link is not None
            assert link.group(0).replace("&", "&amp;") in html
            token = parse_qs(urlparse(link.group(0)).query)["token"][0]

            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Unsubscribe(api.UnsubscribeRequest(token=token[:-2] + "xx"), metadata=auth("web"))
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            done = await stub.Unsubscribe(api.UnsubscribeRequest(token=token), metadata=auth("web"))
            # Nothing personal comes back to whoever holds the link: no preferences, no address.
            assert done == api.UnsubscribeResponse()
            after = await stub.GetPreferences(api.GetPreferencesRequest(), metadata=auth("ann"))
            channels = {c.type: (c.in_app, c.email) for c in after.preferences.channels}
            assert channels[pb.NOTIFICATION_TYPE_ANSWER_ACCEPTED] == (True, False)
            assert channels[pb.NOTIFICATION_TYPE_ROLE_GRANTED] == (True, True)

            await events.emit("content", "answer_accepted", _accepted("a2"))
            await wait_for_inbox(stub, "ann", 3)  # decided after the in-app one is stored
            await asyncio.sleep(0.3)
            assert len(mailbox.messages) == 1


async def test_smtp_outage_delays_email_but_loses_nothing(
    settings_for: Callable[..., ServiceSettings], events: Events, unused_tcp_port: int
) -> None:
    settings = _settings(settings_for, unused_tcp_port)
    async with running_service(settings, build) as running:
        stub = api_grpc.NotifyServiceStub(running.channel)
        await _set_email(stub, "ann", "ann@example.com")
        await events.emit("content", "answer_accepted", _accepted("a1"))
        await wait_for_inbox(stub, "ann", 1)

        client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_uri, tz_aware=True)
        emails = client[settings.database_name]["emails"]
        try:
            deadline = asyncio.get_running_loop().time() + 10
            while True:  # the SMTP server is down: attempts fail and are retried
                doc = await emails.find_one({})
                if doc is not None and doc["attempts"] >= 2:
                    break
                assert asyncio.get_running_loop().time() < deadline, doc
                await asyncio.sleep(0.05)
            assert doc["status"] == "pending"

            with smtp_server(unused_tcp_port) as mailbox:
                [message] = await mailbox.wait_for(1)
                assert message["Subject"] == "Your answer was accepted"
                deadline = asyncio.get_running_loop().time() + 5
                while (doc := await emails.find_one({})) is not None and doc["status"] != "sent":
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.05)
                assert doc is not None
                assert [entry["ok"] for entry in doc["log"]][-1] is True
                assert not any(entry["ok"] for entry in doc["log"][:-1])
                await asyncio.sleep(0.5)
                assert len(mailbox.messages) == 1
        finally:
            await client.close()
